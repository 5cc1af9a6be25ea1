"""Metrics are read from mmengine's structured test output, the newest run first."""

import json
import os
import time

import pytest

from ela_mm.comparison.results import read_test_metrics


def test_reads_the_newest_test_run(tmp_path):
    for i, (stamp, value) in enumerate((('20260101_000000', 0.1), ('20260102_000000', 0.7))):
        d = tmp_path / stamp
        d.mkdir()
        (d / f'{stamp}.json').write_text(json.dumps({'pascal_voc/mAP': value}))
        (d / 'vis_data').mkdir()
        (d / 'vis_data' / 'scalars.json').write_text('{"loss": 3}')
        # file times of a copy or checkout mean nothing: the older run has the newer file
        os.utime(d / f'{stamp}.json', (time.time() - i, time.time() - i))
    assert read_test_metrics(str(tmp_path)) == {'pascal_voc/mAP': 0.7}


def test_no_metrics_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no test metrics in '{tmp_path}'"):
        read_test_metrics(str(tmp_path))
