"""Read what a run wrote, from mmengine's structured output (never from log text)."""

import glob
import json
import os.path as osp
from typing import Dict


def read_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest test run in ``work_dir``: mmengine's LoggerHook dumps them to
    ``<work_dir>/<timestamp>/<timestamp>.json`` after the test epoch.

    Raises ``FileNotFoundError`` naming the folder when no test run wrote metrics there.
    """
    files = [
        p
        for p in glob.glob(osp.join(work_dir, '*', '*.json'))
        if osp.basename(osp.dirname(p)) == osp.splitext(osp.basename(p))[0]
    ]
    if not files:
        raise FileNotFoundError(
            f'no test metrics in {work_dir!r}: expected '
            f'<timestamp>/<timestamp>.json written by tools/test.py'
        )
    # newest by the timestamp that names the folder (file times change in a copy or checkout)
    with open(max(files, key=lambda p: osp.basename(osp.dirname(p)))) as f:
        return json.load(f)
