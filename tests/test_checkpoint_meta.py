"""The dataset meta every shipped config saves in its checkpoints (the runner stores its
training set's ``metainfo``) is a dict with the class names, as mmdet's ``init_detector`` /
``DetInferencer`` read it (a list failed there: 'list' object has no attribute 'items'), with
as many classes as the model predicts. Built on the miniature real-layout trees, which every
path of these configs must pass the data check on."""

import glob
import os.path as osp
import re

import pytest

from ela_mm.datasets.miniature import CONFIG_TREES as TREE
from ela_mm.utils.config import load_config
from ela_mm.utils.data_check import check_data, paths_outside, set_data_root

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL = sorted(
    osp.relpath(p, osp.join(ROOT, 'configs'))
    for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    if p.split(osp.sep)[-2] != 'toy'
)
ATTENTION = re.compile(r'-(ca|cbam|eca|se|ela-[tsbl])_')
# the plain row of every family, and every row of YOLOX VOC (whose meta was a list)
CONFIGS = [c for c in ALL if not ATTENTION.search(c) or c.endswith('_voc0712.py')]


def _num_classes(model):
    for key in ('bbox_head', 'decode_head', 'head'):
        if key in model:
            return model[key]['num_classes']
    return model['roi_head']['bbox_head']['num_classes']


def test_every_family_is_covered():
    assert {c.split('/')[0] for c in CONFIGS} == {c.split('/')[0] for c in ALL}
    assert all(any(c.endswith(k) for k in TREE) for c in ALL)


@pytest.mark.parametrize('name', CONFIGS)
def test_checkpoint_meta_is_a_dict_with_the_class_names(name, miniature):
    from mmengine.registry import DATASETS, init_default_scope

    cfg = load_config(osp.join(ROOT, 'configs', name))
    root = miniature[next(t for k, t in TREE.items() if name.endswith(k))]
    set_data_root(cfg, root)
    assert paths_outside(cfg, root) == []
    check_data(cfg)  # every path of the three loops and their evaluators is in the miniature
    init_default_scope(cfg.default_scope)
    meta = DATASETS.build(cfg.train_dataloader.dataset).metainfo  # saved as dataset_meta
    assert isinstance(meta, dict), f'{name}: dataset_meta is a {type(meta).__name__}'
    classes = meta['classes']
    assert len(classes) == _num_classes(cfg.model) and all(isinstance(c, str) for c in classes)
    # what mmdet's init_detector does with it (mmdet/apis/inference.py)
    assert {k.lower(): v for k, v in meta.items()}['classes'] == classes
