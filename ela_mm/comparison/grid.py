"""A comparison grid: every (config, seed) of one model family, each in its own work dir.

Layout (what ``tools/run_grid.py`` writes and ``tools/collect_grid.py`` reads)::

    <grid>/grid.json                          what was asked (family, configs, seeds, options,
                                              threads per run), accumulated over invocations
    <grid>/<config name>/seed<k>/             the training work dir (checkpoints, logs)
    <grid>/<config name>/seed<k>/run.log      the run's stdout + stderr (local mode)
    <grid>/<config name>/seed<k>/test/<timestamp>/<timestamp>.json   final test metrics

A run is *finished* when its test metrics exist; a run with a checkpoint but no metrics was
interrupted and resumes (``tools/train.py --resume``) when the grid runs again.
"""

import glob
import os.path as osp
import re
import shlex
from typing import Dict, List, NamedTuple, Optional, Sequence

from .catalogue import comparison_rows, load_model_index
from .results import read_test_metrics

_SEED_DIR = re.compile(r'^seed(\d+)$')


class Run(NamedTuple):
    config: str  # absolute config path
    name: str  # config name (its file name without .py)
    attention: str  # 'none' for the plain model, else the metafile's Attention label
    seed: int
    work_dir: str

    @property
    def log(self) -> str:
        return osp.join(self.work_dir, 'run.log')

    @property
    def test_dir(self) -> str:
        return osp.join(self.work_dir, 'test')


def label(attention: str) -> str:
    """The name of a grid row in messages: 'plain' for the model without attention (the
    metafiles write 'none'), else the metafile's Attention label."""
    return 'plain' if attention == 'none' else attention


#: a line that says why a run stopped: a Python exception, or a tool's own ``SystemExit`` text
_REASON = re.compile(r'^(\w+(\.\w+)*(Error|Exception|Interrupt)|SystemExit)\b.*|^\S.*: error: .*')


def failure_reason(log: str, lines: int = 400) -> str:
    """Why the run logging to ``log`` failed, in one line: the last exception line (or argparse
    error) among its last ``lines`` lines, else its last non-empty line."""
    try:
        with open(log, errors='replace') as f:
            tail = [t.rstrip() for t in f.readlines()[-lines:]]
    except OSError as e:
        return f'(no log: {e.strerror})'
    found = [t for t in tail if _REASON.match(t)]
    text = found[-1] if found else next((t for t in reversed(tail) if t.strip()), '(empty log)')
    return text if len(text) <= 600 else text[:597] + '...'


def family_configs(root: str, baseline: str, attentions: Optional[Sequence[str]] = None):
    """The model-index entries of the family of the plain config ``baseline``, plain first,
    limited to ``attentions`` (metafile ``Attention`` labels, case-insensitive; 'plain' or
    'none' for the baseline) when given. Unknown labels raise, naming the family's labels."""
    try:
        rows = comparison_rows(root, baseline)
    except ValueError:
        plain = sorted(m['Name'] for m in load_model_index(root) if m['parsed'].attention is None)
        raise ValueError(
            f'no plain config {baseline!r} in the model index; a family is named by its plain '
            f'baseline, one of: {", ".join(plain)}'
        ) from None
    if not attentions:
        return rows
    have = {m['Metadata']['Attention'].lower(): m for m in rows}
    have['plain'] = have['none']
    unknown = [a for a in attentions if a.lower() not in have]
    if unknown:
        raise ValueError(
            f'attention {", ".join(unknown)} not in the family of {baseline}: it has '
            f'{", ".join(label(m["Metadata"]["Attention"]) for m in rows)}'
        )
    wanted = {have[a.lower()]['Name'] for a in attentions}
    return [m for m in rows if m['Name'] in wanted]


def plan(entries: List[dict], seeds: Sequence[int], grid_dir: str) -> List[Run]:
    """One :class:`Run` per (config, seed), configs in family order, seeds inside."""
    return [
        Run(
            m['path'],
            m['Name'],
            m['Metadata']['Attention'],
            s,
            osp.join(grid_dir, m['Name'], f'seed{s}'),
        )
        for m in entries
        for s in seeds
    ]


def is_finished(run: Run) -> bool:
    """Whether the run's final test metrics exist."""
    try:
        read_test_metrics(run.test_dir)
    except FileNotFoundError:
        return False
    return True


def is_started(run: Run) -> bool:
    """Whether training left a checkpoint to resume from."""
    return osp.isfile(osp.join(run.work_dir, 'last_checkpoint'))


def command(
    run: Run,
    mode: str,
    python: str,
    tools: str,
    train_extra: Sequence[str] = (),
    test_extra: Sequence[str] = (),
    cfg_options: Sequence[str] = (),
    gpus: int = 1,
    partition: str = '',
    job_name: str = 'grid',
) -> str:
    """The shell line that trains ``run`` (``--resume``: an interrupted run goes on from its last
    checkpoint, a new one starts from scratch) and then tests its last checkpoint into
    ``<work dir>/test``. ``mode``: 'local' (one process), 'dist' (tools/dist_train.sh and
    dist_test.sh on ``gpus`` GPUs) or 'slurm' (tools/slurm_train.sh and slurm_test.sh, inside a
    SLURM allocation). ``train_extra``/``test_extra``: more options of tools/train.py/test.py;
    ``cfg_options``: ``key=value`` overrides for both (the run's seed is added for training)."""
    q = shlex.quote

    def opts(*parts) -> str:
        return ' '.join(q(str(a)) for a in parts)

    cfg = q(run.config)
    seed = f'randomness.seed={run.seed}'
    train = opts('--resume', *train_extra, '--cfg-options', seed, *cfg_options)
    test = opts('--work-dir', run.test_dir, *test_extra)
    if cfg_options:
        test += ' ' + opts('--cfg-options', *cfg_options)
    ckpt = f'"$(cat {q(osp.join(run.work_dir, "last_checkpoint"))})"'
    work = opts('--work-dir', run.work_dir)
    tool = lambda name: q(osp.join(tools, name))  # noqa: E731
    if mode == 'local':
        return (
            f'{q(python)} {tool("train.py")} {cfg} {work} {train} && '
            f'{q(python)} {tool("test.py")} {cfg} {ckpt} {test}'
        )
    env = f'PYTHON={q(python)}'
    if mode == 'dist':
        return (
            f'{env} bash {tool("dist_train.sh")} {cfg} {gpus} {work} {train} && '
            f'{env} bash {tool("dist_test.sh")} {cfg} {ckpt} {gpus} {test}'
        )
    if mode == 'slurm':
        job = q(f'{job_name}-{run.name}-seed{run.seed}')
        return (
            f'{env} bash {tool("slurm_train.sh")} {q(partition)} {job} {cfg} {q(run.work_dir)} '
            f'{train} && '
            f'{env} bash {tool("slurm_test.sh")} {q(partition)} {job} {cfg} {ckpt} {test}'
        )
    raise ValueError(f'mode {mode!r}: expected local, dist or slurm')


def slurm_script(
    lines: List[str],
    partition: str,
    job_name: str,
    gpus: int,
    gpus_per_node: int,
    cpus_per_task: int,
    log_dir: str,
    max_parallel: int = 0,
) -> str:
    """An sbatch array script that runs ``lines[SLURM_ARRAY_TASK_ID]``; the allocation asks for
    what tools/slurm_train.sh's srun uses (GPUS, GPUS_PER_NODE, CPUS_PER_TASK)."""
    nodes = max(1, -(-gpus // gpus_per_node))
    limit = f'%{max_parallel}' if max_parallel else ''
    cases = '\n'.join(f'    {i}) {line} ;;' for i, line in enumerate(lines))
    return f"""#!/usr/bin/env bash
# Written by tools/run_grid.py: one array task per (config, seed) of the grid.
#SBATCH --job-name={job_name}
#SBATCH --partition={partition}
#SBATCH --array=0-{len(lines) - 1}{limit}
#SBATCH --nodes={nodes}
#SBATCH --ntasks={gpus}
#SBATCH --ntasks-per-node={min(gpus, gpus_per_node)}
#SBATCH --gres=gpu:{min(gpus, gpus_per_node)}
#SBATCH --cpus-per-task={cpus_per_task}
#SBATCH --output={log_dir}/slurm-%A_%a.log
set -euo pipefail
export GPUS={gpus} GPUS_PER_NODE={min(gpus, gpus_per_node)} CPUS_PER_TASK={cpus_per_task}
case "$SLURM_ARRAY_TASK_ID" in
{cases}
    *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;
esac
"""


def find_runs(grid_dir: str) -> Dict[str, Dict[int, str]]:
    """``{config name: {seed: work dir}}`` of every ``<grid>/<config>/seed<k>`` folder."""
    found: Dict[str, Dict[int, str]] = {}
    for path in sorted(glob.glob(osp.join(grid_dir, '*', 'seed*'))):
        m = _SEED_DIR.match(osp.basename(path))
        if m and osp.isdir(path):
            found.setdefault(osp.basename(osp.dirname(path)), {})[int(m[1])] = path
    return found


#: manifest keys that must agree between invocations writing into one grid folder
_SAME_IN_A_GRID = ('baseline', 'schedule', 'data_root', 'cfg_options')


def merge_manifest(old: Optional[dict], new: dict, grid_dir: str) -> dict:
    """``grid.json`` after another invocation of run_grid on ``grid_dir``: configs, seeds and
    thread settings accumulate; a different baseline, schedule, data root or cfg-options would
    put runs that are not comparable into one table, so it raises, naming the fix."""
    if not old:
        return new
    for key in _SAME_IN_A_GRID:
        if old.get(key) != new.get(key):
            raise ValueError(
                f'{grid_dir}/grid.json records {key}={old.get(key)!r} but this call asks '
                f'{key}={new.get(key)!r}: runs that differ in {key} would be tabulated as one '
                f'grid. Use another --grid-dir, or repeat the earlier {key}.'
            )
    merged = dict(old, **{k: v for k, v in new.items() if k in _SAME_IN_A_GRID or k == 'mode'})
    merged['configs'] = list(dict.fromkeys([*old.get('configs', []), *new['configs']]))
    merged['attentions'] = dict(old.get('attentions', {}), **new['attentions'])
    merged['seeds'] = sorted({*old.get('seeds', []), *new['seeds']})
    merged['threads_per_run'] = sorted(
        {*old.get('threads_per_run', []), *new.get('threads_per_run', [])}
    )
    return merged


def threads_text(manifest: dict) -> Optional[str]:
    """How many torch threads each run had (``None`` when unknown), for the machine line."""
    threads = manifest.get('threads_per_run')
    if not threads:
        return None
    return f'{" or ".join(map(str, threads))} torch thread{"s" if threads != [1] else ""} per run'
