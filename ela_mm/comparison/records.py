"""The records of a grid's finished runs, as published under ``docs/toy_comparison/runs/``.

:func:`save_records` copies what a run needs to be tabulated again and checked, and no
checkpoint: ``grid.json``, each finished run's ``run.json`` and its newest test run's
``<timestamp>.json`` (metrics) and ``<timestamp>.log``. Paths of the machine it ran on are
made portable: the config as ``configs/...`` (relative to the repository it ran from) and the
grid folder as ``<grid>`` in the logs. Copied into a grid folder, ``tools/run_grid.py`` runs
only the missing seeds and ``tools/collect_grid.py`` tabulates them.
"""

import json
import os
import os.path as osp
import re
from typing import Dict, List, Tuple

from .grid import find_runs
from .results import newest_test_run

__all__ = ['portable_records', 'save_records']


def _config_root(config: str) -> str:
    """The repository a run's absolute config path lies in (``''`` when relative)."""
    if not osp.isabs(config):
        return ''
    parts = config.split(osp.sep)
    if 'configs' not in parts:
        raise ValueError(f'run.json: config {config!r} is not under a configs/ folder')
    cut = len(parts) - 1 - parts[::-1].index('configs')
    root = osp.sep.join(parts[:cut])
    if not root:
        raise ValueError(
            f'run.json: config {config!r} lies in a repository at the file system root; '
            'its records cannot be made portable (run from a clone in a folder)'
        )
    return root


def _without(text: str, path: str, by: str) -> str:
    """``text`` with the folder ``path`` replaced by ``by`` where it is a whole path (followed
    by ``/``, a quote, a space or the end; ``/grid`` in ``/grid_old`` stays)."""
    return re.sub(re.escape(path) + r'(?=[/\'"\s,)\]]|$)', by, text)


def portable_records(grid_dir: str) -> Dict[str, str]:
    """``{relative path: text}`` of the records of every finished run in ``grid_dir`` (one with
    a test run that wrote metrics), with the machine's paths made portable."""
    grid_dir = osp.abspath(grid_dir)
    out: Dict[str, str] = {}
    manifest = osp.join(grid_dir, 'grid.json')
    if osp.isfile(manifest):
        with open(manifest) as f:
            out['grid.json'] = _without(f.read(), grid_dir, '<grid>')
    for name, seeds in find_runs(grid_dir).items():
        for seed, work_dir in sorted(seeds.items()):
            metrics = newest_test_run(osp.join(work_dir, 'test'))  # the one collect_grid reads
            if metrics is None:
                continue  # unfinished: nothing to publish
            rel = f'{name}/seed{seed}'
            root = ''
            run_json = osp.join(work_dir, 'run.json')
            if osp.isfile(run_json):
                with open(run_json) as f:
                    run = json.load(f)
                root = _config_root(run.get('config', ''))
                if root:
                    run['config'] = run['config'][len(root) + 1 :]
                out[f'{rel}/run.json'] = json.dumps(run, indent=2)
            ts = osp.basename(osp.dirname(metrics))
            for path in (metrics, osp.splitext(metrics)[0] + '.log'):
                if not osp.isfile(path):
                    continue
                with open(path) as f:
                    text = _without(f.read(), grid_dir, '<grid>')
                if root:  # the repository's files as relative paths
                    text = text.replace(root + osp.sep, '')
                out[f'{rel}/test/{ts}/{osp.basename(path)}'] = text
    return out


def save_records(grid_dir: str, dest: str, force: bool = False) -> Tuple[List[str], List[str]]:
    """Write :func:`portable_records` of ``grid_dir`` under ``dest``; returns the files
    written and those left in ``dest`` that are not records of this grid (never deleted). A
    record already there with other contents is not replaced unless ``force``
    (``FileExistsError`` naming them)."""
    records = portable_records(grid_dir)
    if not any(k.endswith('.json') and '/test/' in k for k in records):
        raise FileNotFoundError(f'no finished runs in {grid_dir!r}: no records to save')
    differ = []
    for rel, text in records.items():
        path = osp.join(dest, rel)
        if osp.isfile(path):
            with open(path) as f:
                if f.read() != text:
                    differ.append(rel)
    if differ and not force:
        raise FileExistsError(
            f'records in {dest} differ from those of {grid_dir}: {", ".join(differ)}; '
            'nothing written (pass force=True, --force, to replace them)'
        )
    written = []
    for rel, text in records.items():
        path = osp.join(dest, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)
        written.append(path)
    others = sorted(
        osp.relpath(osp.join(d, f), dest)
        for d, _, files in os.walk(dest)
        for f in files
        if osp.relpath(osp.join(d, f), dest) not in records
    )
    return written, others
