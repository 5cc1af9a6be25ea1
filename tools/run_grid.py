"""Run a comparison grid: train + test every (config, seed) of one model family.

    python tools/run_grid.py BASELINE [--attentions plain SE ELA-T ...] [--seeds 3]
        [--schedule 12e|300it] [--grid-dir DIR] [--mode local|dist|slurm] [--parallel N]
        [--gpus N] [--partition P] [--dry-run] [--data-root DIR] [--cfg-options k=v ...]

BASELINE names the family by its plain config (model-index.yml), e.g. yolox_nano_8xb8-300e_voc0712
or yolox_nano_1xb16-24e_toyvoc; the family is every config of the index that is the same recipe
with an attention module, and ``--attentions`` picks some by their metafile ``Attention``.
Each run gets ``<grid-dir>/<config>/seed<k>``; ``tools/collect_grid.py <grid-dir>`` tabulates.

Modes:
  local  here, one run after another, or ``--parallel N`` at once (the CPU threads are split)
  dist   one run after another, each through tools/dist_train.sh / dist_test.sh on --gpus GPUs
  slurm  writes <grid-dir>/grid.sbatch, an array job (one task per run) that calls
         tools/slurm_train.sh / slurm_test.sh, and submits it with sbatch

A finished run (test metrics present) is skipped, an interrupted one resumes from its last
checkpoint, a failed one is reported with its log and the others go on. ``--dry-run`` prints
every command (and the SLURM script) without running anything.
"""

import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

TOOLS = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(TOOLS)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('baseline', help='plain config name of the family (model-index.yml)')
    parser.add_argument(
        '--attentions',
        nargs='+',
        metavar='A',
        help='the attentions to run (metafile labels: plain, SE, ECA, CA, CBAM, ELA-T, ...); '
        'default: the whole family',
    )
    parser.add_argument('--seeds', type=int, default=3, help='seeds 0..N-1 (default 3)')
    parser.add_argument('--first-seed', type=int, default=0, help='seeds start here')
    parser.add_argument(
        '--schedule', metavar='LENGTH', help='tools/train.py --schedule for every run (12e, 300it)'
    )
    parser.add_argument('--grid-dir', help='default: work_dirs/grid/BASELINE')
    parser.add_argument('--mode', choices=['local', 'dist', 'slurm'], default='local')
    parser.add_argument('--parallel', type=int, default=1, help='local: runs at once')
    parser.add_argument('--gpus', type=int, default=8, help='dist/slurm: GPUs per run')
    parser.add_argument('--gpus-per-node', type=int, default=8, help='slurm')
    parser.add_argument('--cpus-per-task', type=int, default=5, help='slurm')
    parser.add_argument('--partition', help='slurm: the partition (required for slurm)')
    parser.add_argument('--job-name', default='ela-grid', help='slurm job name')
    parser.add_argument('--max-parallel', type=int, default=0, help='slurm: array tasks at once')
    parser.add_argument('--python', default=sys.executable, help='interpreter for the runs')
    parser.add_argument('--data-root', help='tools/train.py and test.py --data-root')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='K=V', help='overrides for every run'
    )
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    args = parser.parse_args(argv)
    if args.mode == 'slurm' and not args.partition:
        parser.error('--mode slurm needs --partition')
    if args.seeds < 1 or args.parallel < 1 or args.gpus < 1:
        parser.error('--seeds, --parallel and --gpus must be at least 1')
    return parser, args


def threads_per_run(parallel: int) -> int:
    """The torch threads of each local run: the cores split among ``parallel`` runs, else this
    process's own (a run inherits its environment: OMP_NUM_THREADS, or torch's default)."""
    if parallel > 1:
        return max(1, (os.cpu_count() or 1) // parallel)
    import torch

    return torch.get_num_threads()


def run_local(runs, lines, parallel: int) -> list:
    """Run the shell lines, ``parallel`` at once, each logging to its run.log; return the
    failed runs with their exit status and the reason their log gives."""
    from ela_mm.comparison.grid import failure_reason

    env = dict(os.environ)
    if parallel > 1:  # split the cores instead of oversubscribing them
        env['OMP_NUM_THREADS'] = str(threads_per_run(parallel))
    pending, active, failed = list(zip(runs, lines)), [], []
    while pending or active:
        while pending and len(active) < parallel:
            run, line = pending.pop(0)
            os.makedirs(run.work_dir, exist_ok=True)
            log = open(run.log, 'a')
            log.write(f'\n# {time.strftime("%Y-%m-%d %H:%M:%S")} run_grid: {line}\n')
            log.flush()
            proc = subprocess.Popen(
                ['bash', '-c', line], stdout=log, stderr=subprocess.STDOUT, env=env
            )
            active.append((run, proc, log, time.time()))
            print(f'[grid] started {run.name} seed {run.seed} (log: {run.log})', flush=True)
        time.sleep(1)
        for item in list(active):
            run, proc, log, t0 = item
            if proc.poll() is None:
                continue
            active.remove(item)
            log.close()
            took = time.time() - t0
            if proc.returncode == 0:
                print(f'[grid] done    {run.name} seed {run.seed} in {took:.0f} s', flush=True)
            else:
                why = failure_reason(run.log)
                failed.append((run, proc.returncode, why))
                print(
                    f'[grid] FAILED  {run.name} seed {run.seed} (exit {proc.returncode}): '
                    f'{why}; see {run.log}',
                    flush=True,
                )
    return failed


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args, parse_cfg_options=False)  # checked here, passed on to every run as text

    from ela_mm.comparison.grid import (
        command,
        family_configs,
        is_finished,
        is_started,
        merge_manifest,
        plan,
        slurm_script,
    )

    try:
        entries = family_configs(ROOT, args.baseline, args.attentions)
    except ValueError as e:
        raise SystemExit(f'run_grid: {e}') from None
    grid_dir = osp.abspath(args.grid_dir or osp.join('work_dirs', 'grid', args.baseline))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs = plan(entries, seeds, grid_dir)
    train_extra = ['--schedule', args.schedule] if args.schedule else []
    data = ['--data-root', args.data_root] if args.data_root else []
    todo, lines = [], []
    for r in runs:
        state = 'finished' if is_finished(r) else 'resume' if is_started(r) else 'new'
        print(f'[grid] {state:8s} {r.name} seed {r.seed}', flush=True)
        if state == 'finished':
            continue
        todo.append(r)
        lines.append(
            command(
                r,
                args.mode,
                args.python,
                TOOLS,
                train_extra + data,
                data,
                args.cfg_options,
                args.gpus,
                args.partition or '',
                args.job_name,
            )
        )
    print(
        f'[grid] {len(runs)} runs ({len(entries)} configs x {len(seeds)} seeds), '
        f'{len(runs) - len(todo)} finished, {len(todo)} to run; grid dir {grid_dir}',
        flush=True,
    )
    manifest = dict(
        baseline=args.baseline,
        configs=[m['Name'] for m in entries],
        attentions={m['Name']: m['Metadata']['Attention'] for m in entries},
        seeds=seeds,
        schedule=args.schedule,
        mode=args.mode,
        data_root=args.data_root,
        cfg_options=args.cfg_options,
        threads_per_run=[threads_per_run(args.parallel)] if args.mode == 'local' and todo else [],
    )
    script = None
    if args.mode == 'slurm' and todo:
        script = osp.join(grid_dir, 'grid.sbatch')
        text = slurm_script(
            lines,
            args.partition,
            args.job_name,
            args.gpus,
            args.gpus_per_node,
            args.cpus_per_task,
            grid_dir,
            args.max_parallel,
        )
    path = osp.join(grid_dir, 'grid.json')
    old = None
    if osp.isfile(path):
        with open(path) as f:
            old = json.load(f)
    try:
        manifest = merge_manifest(old, manifest, grid_dir)
    except ValueError as e:
        raise SystemExit(f'run_grid: {e}') from None
    if args.dry_run:
        for line in lines:
            print(line)
        if script:
            print(f'# {script} (not written: --dry-run); submit with: sbatch {script}')
            print(text, end='')
        return 0
    os.makedirs(grid_dir, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(manifest, f, indent=2)
    if not todo:
        return 0
    if args.mode == 'slurm':
        with open(script, 'w') as f:
            f.write(text)
        out = subprocess.run(['sbatch', script], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f'sbatch {script} failed: {out.stderr.strip()}')
        print(f'[grid] submitted {script}: {out.stdout.strip()}')
        return 0
    failed = run_local(todo, lines, args.parallel if args.mode == 'local' else 1)
    if failed:
        print(f'[grid] {len(failed)} of {len(todo)} runs failed:')
        for r, code, why in failed:
            print(f'  {r.name} seed {r.seed}: exit {code}: {why} (log {r.log})')
        return 1
    print(
        '[grid] all runs finished; tabulate with: python tools/collect_grid.py '
        + shlex.quote(grid_dir)
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
