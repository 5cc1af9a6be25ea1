"""tools/train.py --schedule: the whole schedule moves with the training length."""

import os.path as osp

import pytest

from ela_mm.utils.config import load_config
from ela_mm.utils.schedule import parse_schedule, scale_schedule

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano_1xb16-24e_toyvoc.py')


def test_parse_schedule():
    assert parse_schedule('12e') == (12, 'epochs')
    assert parse_schedule('300it') == (300, 'iters')
    assert parse_schedule('20k') == (20000, 'iters')
    for bad in ('12', '0e', 'e', '1.5e', '12 epochs'):
        with pytest.raises(ValueError, match='expected a positive length with a unit'):
            parse_schedule(bad)


def test_epochs_scale_every_point_of_the_schedule():
    cfg = load_config(TOY_DET)  # 24 epochs: warm-up 0-2, cosine 2-24, Mosaic off for the last 16
    scale_schedule(cfg, '12e')
    assert cfg.train_cfg.max_epochs == 12 and cfg.train_cfg.val_interval == 3
    warm, cos = cfg.param_scheduler
    assert (warm.begin, warm.end) == (0, 1)
    assert (cos.begin, cos.end, cos.T_max) == (1, 12, 11)
    switch = next(h for h in cfg.custom_hooks if h.type == 'YOLOXModeSwitchHook')
    assert switch.num_last_epochs == 8
    assert cfg.default_hooks.checkpoint.interval == 3


def test_a_scheduler_with_nothing_left_is_dropped():
    cfg = load_config(TOY_DET)
    changes = scale_schedule(cfg, '1e')
    assert [s.type for s in cfg.param_scheduler] == ['mmdet.QuadraticWarmupLR']
    assert 'param_scheduler.1 (CosineAnnealingLR): dropped, no epochs left' in changes


def test_iteration_warm_up_inside_an_epoch_loop_is_kept():
    cfg = load_config(osp.join(ROOT, 'configs/faster_rcnn/faster-rcnn_r50_fpn_8xb2-1x_coco.py'))
    warm = cfg.param_scheduler[0].to_dict()
    scale_schedule(cfg, '6e')
    assert cfg.param_scheduler[0].to_dict() == warm  # 500 iterations, whatever the length
    assert cfg.param_scheduler[1].milestones == [4, 6]  # 8, 11 of 12 epochs


def test_the_unit_must_be_the_loops():
    cfg = load_config(TOY_DET)
    with pytest.raises(ValueError, match='trains for a number of epochs; give the length in'):
        scale_schedule(cfg, '300it')
