"""Read what a run wrote, from mmengine's structured output (never from log text)."""

import glob
import json
import os.path as osp
from typing import Dict, Optional


def newest_test_run(work_dir: str) -> Optional[str]:
    """The metrics file ``<work_dir>/<timestamp>/<timestamp>.json`` of the newest test run in
    ``work_dir`` (newest by the timestamp that names the folder: file times change in a copy or
    checkout), or ``None`` when no test run wrote metrics there."""
    files = [
        p
        for p in glob.glob(osp.join(work_dir, '*', '*.json'))
        if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0]
    ]
    return max(files, key=lambda p: osp.basename(osp.dirname(p))) if files else None


def read_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest test run in ``work_dir`` (:func:`newest_test_run`):
    mmengine's LoggerHook dumps them to ``<work_dir>/<timestamp>/<timestamp>.json`` after the
    test epoch.

    Raises ``FileNotFoundError`` naming the folder when no test run wrote metrics there.
    """
    path = newest_test_run(work_dir)
    if path is None:
        raise FileNotFoundError(
            f'no test metrics in {work_dir!r}: expected '
            f'<timestamp>/<timestamp>.json written by tools/test.py'
        )
    with open(path) as f:
        return json.load(f)
