"""The detection families end to end on the miniature COCO 2017 and Pascal VOC 07+12 trees: each
ELA row trained with tools/train.py (validated by its own evaluator), tested with tools/test.py,
and opened by mmdet's ``init_detector`` + ``inference_detector`` with the class names read from
the checkpoint (issue #21). Overrides: schedule, batch, workers, image scale, pretrained weights
(families.py)."""

import glob
import os.path as osp
import re

import pytest
from families import (
    DATA_KEYS,
    DATA_PARTS,
    ELA_ROWS,
    ROOT,
    checkpoint_classes,
    image_of,
    lookup,
    smoke_options,
    smoke_run,
    tree_root,
)

from ela_mm.utils.config import load_config

#: config -> (metric, dataset class whose names the checkpoint must hold)
FAMILIES = {
    'yolox/yolox_nano-ela-t_8xb8-300e_coco.py': ('coco/bbox_mAP', 'CocoDataset'),
    'yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py': ('pascal_voc/mAP', 'VOCDataset'),
    'rtmdet/rtmdet_tiny-ela-t_8xb32-300e_coco.py': ('coco/bbox_mAP', 'CocoDataset'),
    'faster_rcnn/faster-rcnn_r50_fpn-ela-b_8xb2-1x_coco.py': (
        'coco/bbox_mAP',
        'CocoDataset',
    ),
}


@pytest.mark.parametrize('config', list(FAMILIES))
def test_detection_family_end_to_end(config, miniature, tmp_path):
    import mmdet.datasets
    from mmdet.apis import inference_detector, init_detector

    metric, dataset = FAMILIES[config]
    root = tree_root(miniature, config)
    cfg, opts, ckpt = smoke_run(config, root, '2e', metric, str(tmp_path))
    classes = list(getattr(mmdet.datasets, dataset).METAINFO['classes'])
    assert checkpoint_classes(ckpt) == classes

    model = init_detector(cfg.filename, ckpt, device='cpu', cfg_options=opts)
    assert list(model.dataset_meta['classes']) == classes  # read from the checkpoint
    result = inference_detector(model, image_of(root))
    pred = result.pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.scores) == len(pred.labels) == len(pred.bboxes)
    assert all(0 <= int(label) < len(classes) for label in pred.labels)


def test_the_smoke_runs_change_no_data_and_the_plain_rows_read_the_same_data():
    """Every family has an ELA row in ELA_ROWS; each smoke option names a place the config has
    and none names a dataset type, file, prefix, root or evaluator; the plain row of each family
    reads and scores the same data as its ELA row (so running the ELA row covers both)."""
    families = {p.split(osp.sep)[-2] for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))}
    assert {c.split('/')[0] for c in ELA_ROWS} == families - {'toy'}
    for config in ELA_ROWS:
        cfg = load_config(osp.join(ROOT, 'configs', config))
        opts = smoke_options(cfg)
        for key in opts:
            lookup(cfg, key)  # KeyError: the option would add a key nothing reads
            assert not set(key.split('.')) & set(DATA_KEYS + ('val_evaluator', 'test_evaluator'))
        assert any(k.endswith(('scale', 'crop_size')) for k in opts), config  # sizes found
        plain = load_config(osp.join(ROOT, 'configs', re.sub(r'-ela-[tbsl]_', '_', config)))
        for part in DATA_PARTS:
            assert cfg.get(part) == plain.get(part), f'{config}: {part} differs from the plain row'
