"""--data-root moves every path under the dataset's root, evaluators' annotation files included
(single evaluators and lists); the data check covers every path a run opens before its first
iteration; a path left outside the given root is reported."""

import os.path as osp

import pytest

from ela_mm.utils.config import load_config
from ela_mm.utils.data_check import check_data, dataset_paths, paths_outside, set_data_root
from ela_mm.utils.launch import setup_config, warn_unread_options

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RTMDET = osp.join(ROOT, 'configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py')
VAL_JSON = 'annotations/instances_val2017.json'
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py')
TOY_SEG = osp.join(ROOT, 'configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-3000it_toyvoc-128x128.py')


def _coco(tmp_path, name='coco'):
    root = tmp_path / name
    for d in ('annotations', 'train2017', 'val2017'):
        (root / d).mkdir(parents=True)
    for split in ('train', 'val'):
        (root / f'annotations/instances_{split}2017.json').write_text('{}')
    return str(root)


def test_evaluator_files_move_with_the_data_root():
    cfg = load_config(RTMDET)  # data/coco/ + CocoMetric(ann_file=data_root + ...)
    changed = set_data_root(cfg, '/my/coco')
    assert {'val_evaluator.ann_file', 'test_evaluator.ann_file'} <= set(changed)
    assert cfg.val_evaluator.ann_file == f'/my/coco/{VAL_JSON}'
    assert cfg.test_evaluator.ann_file == f'/my/coco/{VAL_JSON}'
    assert paths_outside(cfg, '/my/coco') == []


def test_evaluator_lists_and_files_written_without_the_variable():
    cfg = load_config(RTMDET)
    cfg.test_evaluator = [
        dict(type='CocoMetric', ann_file=f'data/coco/{VAL_JSON}'),  # the variable's prefix
        dict(type='CocoMetric', ann_file=f'elsewhere/{VAL_JSON}'),  # the dataset's ann_file
        dict(type='CocoMetric', ann_file='/other/place/instances.json'),  # neither: reported
    ]
    changed = set_data_root(cfg, '/my/coco')
    assert 'test_evaluator.0.ann_file' in changed and 'test_evaluator.1.ann_file' in changed
    assert [e['ann_file'] for e in cfg.test_evaluator[:2]] == [f'/my/coco/{VAL_JSON}'] * 2
    assert paths_outside(cfg, '/my/coco') == [
        'test_evaluator.2.ann_file: /other/place/instances.json'
    ]


def test_data_check_covers_the_evaluators_file(tmp_path):
    root = _coco(tmp_path)
    cfg = load_config(RTMDET)
    set_data_root(cfg, root)
    check_data(cfg, ['train_dataloader', 'val_dataloader'])  # complete: passes
    keys = [k for k, _ in dataset_paths(cfg, ['val_dataloader'])]
    assert 'val_evaluator.ann_file' in keys and 'val_dataloader.dataset.data_prefix.img' in keys
    cfg.val_evaluator.ann_file = osp.join(root, 'annotations/missing.json')
    with pytest.raises(FileNotFoundError, match=r"missing.json' does not exist.*val_evaluator"):
        check_data(cfg, ['train_dataloader', 'val_dataloader'])


class Args:
    config, work_dir, cfg_options, launcher, local_rank = RTMDET, 'w', None, 'none', 0


def test_data_root_from_another_folder_never_reads_the_local_copy(tmp_path, monkeypatch, capsys):
    """A data/coco where the user stands (another subset) must not be what is evaluated."""
    real = _coco(tmp_path, 'real')
    decoy = tmp_path / 'here'
    _coco(decoy, 'data/coco')
    monkeypatch.chdir(decoy)
    args = Args()
    args.data_root = real
    cfg = setup_config(args)
    assert cfg.val_evaluator.ann_file == osp.join(real, VAL_JSON)
    assert cfg.test_evaluator.ann_file == osp.join(real, VAL_JSON)
    out = capsys.readouterr().out
    assert f'--data-root: val_evaluator.ann_file = {osp.join(real, VAL_JSON)}' in out
    assert 'WARNING' not in out
    all_paths = [p for _, p in dataset_paths(cfg)]
    assert all(osp.abspath(p).startswith(real) for p in all_paths), all_paths
    args.cfg_options = {'test_evaluator.ann_file': '/elsewhere/gt.json'}  # the user's own
    setup_config(args)
    assert f'WARNING: --data-root {real}: test_evaluator.ann_file: /elsewhere/gt.json is not' in (
        capsys.readouterr().out
    )


class ToyArgs:
    config, work_dir, cfg_options, launcher, local_rank, data_root = (
        TOY_DET,
        None,
        None,
        'none',
        0,
        None,
    )


def test_data_root_reaches_every_dataset_of_a_wrapped_config(tmp_path):
    cfg = load_config(TOY_DET)
    changed = set_data_root(cfg, '/my/data')
    assert changed == [
        'train_dataloader.dataset.dataset.data_root',
        'val_dataloader.dataset.data_root',
        'test_dataloader.dataset.data_root',
    ]
    assert cfg.train_dataloader.dataset.dataset.data_root == '/my/data/'
    assert cfg.test_dataloader.dataset.data_root == '/my/data/'
    seg = load_config(TOY_SEG)  # data_root 'data/toy_voc/VOC2007': the sub-folder is kept
    set_data_root(seg, '/my/data')
    assert seg.train_dataloader.dataset.data_root == '/my/data'


def test_data_root_flag_through_the_tool(tmp_path):
    args = ToyArgs()
    args.data_root = str(tmp_path)
    cfg = setup_config(args)
    assert cfg.train_dataloader.dataset.dataset.data_root == f'{tmp_path}/'
    with pytest.raises(FileNotFoundError, match=r'VOC2007/ImageSets/Main/train.txt'):
        check_data(cfg, ['train_dataloader'])


def test_top_level_variable_in_cfg_options_is_flagged(capsys):
    cfg = load_config(TOY_DET)
    assert warn_unread_options(cfg, {'data_root': '/x', 'work_dir': 'w', 'a.b': 1}) == ['data_root']
    out = capsys.readouterr().out
    assert "--cfg-options data_root=...: 'data_root' is a variable of the config file" in out
    assert 'Use --data-root DIR' in out
    assert 'train_dataloader.dataset.dataset.data_root' in out
