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
    cfg = load_config(TOY_DET)  # 24 epochs: warm-up 0-1, cosine 1-24, Mosaic off for the last 8
    scale_schedule(cfg, '12e')
    assert cfg.train_cfg.max_epochs == 12 and cfg.train_cfg.val_interval == 3
    warm, cos = cfg.param_scheduler
    assert (warm.begin, warm.end) == (0, 1)  # inside the schedule: kept inside
    assert (cos.begin, cos.end, cos.T_max) == (1, 12, 11)  # the cosine still ends at eta_min
    switch = next(h for h in cfg.custom_hooks if h.type == 'YOLOXModeSwitchHook')
    assert switch.num_last_epochs == 4
    assert cfg.default_hooks.checkpoint.interval == 3


@pytest.mark.parametrize('spec', ['4e', '7e', '13e', '48e'])
def test_a_cosine_ends_where_its_recipe_ends(spec):
    """The learning rate at the last iteration is the recipe's eta_min, at any length."""
    cfg = load_config(TOY_DET)
    scale_schedule(cfg, spec)
    cos = cfg.param_scheduler[-1]
    assert cos.type == 'CosineAnnealingLR' and cos.end == cfg.train_cfg.max_epochs
    assert cos.T_max == cos.end - cos.begin


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
    assert cfg.param_scheduler[1].milestones == [4, 5]  # 8, 11 of 12: both steps still happen


def test_the_unit_must_be_the_loops():
    cfg = load_config(TOY_DET)
    with pytest.raises(ValueError, match='trains for a number of epochs; give the length in'):
        scale_schedule(cfg, '300it')


# ---- every phase of a recipe still happens in a shortened run (issue #21)
RTMDET = osp.join(ROOT, 'configs/rtmdet/rtmdet_tiny_8xb32-300e_coco.py')
YOLOX = osp.join(ROOT, 'configs/yolox/yolox_nano_8xb8-300e_voc0712.py')


class _Dataset:
    pipeline = None

    def update_skip_type_keys(self, keys):
        self.skip = keys


def _switch_epoch(cfg, hook_type):
    """The 0-based epoch at which the (real, mmdet) hook of the scaled config switches, found by
    calling it as the training loop does; None if it never does."""
    from types import SimpleNamespace

    from mmdet.registry import HOOKS
    from mmengine.registry import init_default_scope

    init_default_scope('mmdet')
    hook_cfg = next(h for h in cfg.custom_hooks if h.type == hook_type).to_dict()
    hook_cfg.pop('priority', None)  # the runner's, not the hook's
    hook = HOOKS.build(hook_cfg)
    head = SimpleNamespace(use_l1=False)
    n = cfg.train_cfg.max_epochs
    for epoch in range(n):
        runner = SimpleNamespace(
            epoch=epoch,
            max_epochs=n,
            train_dataloader=SimpleNamespace(dataset=_Dataset()),
            model=SimpleNamespace(bbox_head=head),
            logger=SimpleNamespace(info=lambda *a: None),
        )
        hook.before_train_epoch(runner)
        if hook._has_switched:
            return epoch
    return None


@pytest.mark.parametrize('n', [2, 3, 5, 7, 12])
def test_rtmdet_pipeline_switch_still_happens(n):
    cfg = load_config(RTMDET)  # 300 epochs, the second pipeline from epoch 280
    changes = scale_schedule(cfg, f'{n}e')
    switch = _switch_epoch(cfg, 'PipelineSwitchHook')
    assert switch is not None and 1 <= switch <= n - 1, changes  # both pipelines train
    milestone = cfg.train_cfg.dynamic_intervals[0][0]  # validate every epoch from the switch
    assert 1 <= milestone <= n - 1
    cos = cfg.param_scheduler[-1]
    assert 1 <= cos.begin < cos.end == n  # the flat phase, then the cosine decay


@pytest.mark.parametrize('n', [2, 3, 5, 7, 12])
def test_yolox_mode_switch_still_happens(n):
    cfg = load_config(YOLOX)  # 300 epochs, Mosaic off (and L1 loss on) for the last 15 (+1)
    changes = scale_schedule(cfg, f'{n}e')
    switch = _switch_epoch(cfg, 'YOLOXModeSwitchHook')
    assert switch is not None and 1 <= switch <= n - 1, changes  # Mosaic, then without
    if n < 3:  # three learning-rate phases need three epochs
        return
    warm, cos, flat = cfg.param_scheduler  # warm-up, cosine, the constant last phase: all kept
    assert warm.end == cos.begin and cos.end == flat.begin and flat.end == n
    assert warm.begin < warm.end and cos.begin < cos.end and flat.begin < flat.end


def test_one_epoch_cannot_hold_two_phases_and_says_so():
    cfg = load_config(RTMDET)
    changes = scale_schedule(cfg, '1e')
    assert any(c.startswith('WARNING: PipelineSwitchHook: 1 epochs are too few') for c in changes)


def test_other_hooks_thresholds_scale():
    cfg = load_config(TOY_DET)
    cfg.custom_hooks.append(dict(type='EMAHook', begin_epoch=12, priority=49))
    scale_schedule(cfg, '6e')
    assert cfg.custom_hooks[-1]['begin_epoch'] == 3
