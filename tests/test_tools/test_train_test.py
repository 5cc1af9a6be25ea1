"""The tools end to end on the toy data: train, interrupt + resume, distributed launch on CPU,
test with --out/--show-dir, bad-input errors, attention visualisation."""

import copy
import glob
import json
import os
import os.path as osp
import pickle
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py')
ENV = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')


def small_config(tmp, data_root, epochs=2, **extra) -> str:
    """The toy detection config on a tiny data set: 2 iterations per epoch at 96 px."""
    lines = [
        f"_base_ = '{TOY_DET}'",
        f"data_root = '{data_root}/'",
        'train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,',
        '    dataset=dict(dataset=dict(data_root=data_root)))',
        'val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,',
        '    dataset=dict(data_root=data_root))',
        'test_dataloader = val_dataloader',
        f'train_cfg = dict(max_epochs={epochs}, val_interval={epochs})',
        'default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=10),',
        '    logger=dict(interval=1))',
        'model = dict(data_preprocessor=dict(batch_augments=None))',
        'img_scale = (96, 96)',
    ] + [f'{k} = {v!r}' for k, v in extra.items()]
    path = osp.join(tmp, 'small.py')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path


def run(args, cwd, **kw):
    return subprocess.run(
        [sys.executable] + args, cwd=cwd, env=ENV, capture_output=True, text=True, **kw
    )


PAUSE_HOOK = """
import os, time
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class PauseAfterEpoch(Hook):
    \"\"\"Holds the run after the epoch named by $PAUSE_AFTER_EPOCH (once its checkpoint is
    saved: the lowest priority runs last), so that a test can interrupt it there on any
    machine, however fast or loaded.\"\"\"

    def after_train_epoch(self, runner):
        if runner.epoch == int(os.environ.get('PAUSE_AFTER_EPOCH', -1)):
            time.sleep(600)
"""


def test_train_interrupted_then_resumed(toy_voc, tmp_path, monkeypatch):
    (tmp_path / 'pause_hook.py').write_text(PAUSE_HOOK)
    cfg = small_config(
        str(tmp_path),
        toy_voc,
        epochs=4,
        custom_imports=dict(imports=['pause_hook'], allow_failed_imports=False),
    )
    with open(cfg, 'a') as f:
        pause = "dict(type='PauseAfterEpoch', priority='LOWEST')"
        f.write(f'custom_hooks = _base_.custom_hooks + [{pause}]\n')
    work = str(tmp_path / 'work')
    proc = subprocess.Popen(
        [sys.executable, osp.join(ROOT, 'tools/train.py'), cfg, '--work-dir', work],
        cwd=tmp_path,
        env=dict(ENV, PAUSE_AFTER_EPOCH='2', PYTHONPATH=str(tmp_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pointer, deadline = osp.join(work, 'last_checkpoint'), time.time() + 600
    while not (osp.isfile(pointer) and open(pointer).read().strip().endswith('epoch_2.pth')):
        assert proc.poll() is None, 'training ended before it could be interrupted'
        if time.time() > deadline:
            proc.kill()
            pytest.fail('no epoch_2 checkpoint after 600 s')
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # an interruption, not a clean stop
    proc.wait()
    assert not osp.exists(osp.join(work, 'epoch_3.pth'))
    with open(pointer) as f:
        last = f.read().strip()
    ckpt = torch.load(last, map_location='cpu')  # safe loader, allowlisted mmengine types
    done_epoch, done_iter = ckpt['meta']['epoch'], ckpt['meta']['iter']
    assert (done_epoch, done_iter) == (2, 4)  # 8 images / batch 4

    # resume in-process, recording what the resumed loop starts from
    monkeypatch.syspath_prepend(str(tmp_path))  # the pause hook's module (not paused here)
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    import ela_mm  # noqa: F401
    from ela_mm.utils.launch import setup_config

    seen = {}

    @HOOKS.register_module(force=True)
    class _RecordResume(Hook):
        def before_train(self, runner):
            seen['epoch'], seen['iter'] = runner.epoch, runner.iter
            seen['optim'] = copy.deepcopy(runner.optim_wrapper.state_dict())  # live tensors

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            seen.setdefault('first_iter', runner.iter)

    class Args:
        config, work_dir, cfg_options, launcher, local_rank = cfg, work, None, 'none', 0

    conf = setup_config(Args)
    conf.resume, conf.load_from = True, None
    conf.custom_hooks = list(conf.custom_hooks) + [dict(type='_RecordResume')]
    from mmengine.runner import Runner

    Runner.from_cfg(conf).train()
    assert (seen['epoch'], seen['iter'], seen['first_iter']) == (done_epoch, done_iter, done_iter)
    saved = ckpt['optimizer']['state']
    assert saved, 'the checkpoint holds the optimizer momentum'
    for k, v in saved.items():
        torch.testing.assert_close(
            seen['optim']['state'][k]['momentum_buffer'], v['momentum_buffer']
        )
    final = torch.load(osp.join(work, 'epoch_4.pth'), map_location='cpu')
    assert final['meta']['iter'] == 8


def test_distributed_two_processes_on_cpu(toy_voc, tmp_path):
    cfg = small_config(str(tmp_path), toy_voc, epochs=1)
    work = str(tmp_path / 'work')
    out = subprocess.run(
        [
            sys.executable,
            '-m',
            'torch.distributed.run',
            '--standalone',  # a free port of the OS's choosing: no collision between runs
            '--nproc_per_node=2',
            osp.join(ROOT, 'tools/train.py'),
            cfg,
            '--launcher',
            'pytorch',
            '--work-dir',
            work,
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]  # torchrun fails if any rank fails
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'Distributed training: True' in log
    # 8 images, batch 4 per process, 2 processes: ONE iteration per epoch (data is sharded)
    assert 'Epoch(train) [1][1/1]' in log
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu')
    assert ckpt['meta']['iter'] == 1 and all(
        torch.isfinite(v).all() for v in ckpt['state_dict'].values() if v.is_floating_point()
    )


@pytest.fixture(scope='module')
def trained(toy_voc, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp('trained'))
    cfg = small_config(tmp, toy_voc, epochs=1)
    out = run(
        [osp.join(ROOT, 'tools/train.py'), cfg, '--work-dir', osp.join(tmp, 'work')],
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return cfg, osp.join(tmp, 'work', 'epoch_1.pth'), tmp


def test_test_tool_out_and_show_dir(trained):
    cfg, ckpt, tmp = trained
    out = run(
        [
            osp.join(ROOT, 'tools/test.py'),
            cfg,
            ckpt,
            '--out',
            'preds.pkl',
            '--show-dir',
            'shown',
            '--work-dir',
            'test_work',
        ],
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'pascal_voc/mAP' in out.stdout + out.stderr
    with open(osp.join(tmp, 'preds.pkl'), 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and 'pred_instances' in preds[0]
    assert len(glob.glob(osp.join(tmp, 'test_work', '*', 'shown', '*.jpg'))) == 4


def test_test_tool_refuses_a_checkpoint_of_another_model(trained):
    cfg, ckpt, tmp = trained
    out = run(
        [
            osp.join(ROOT, 'tools/test.py'),
            cfg,
            ckpt,
            '--cfg-options',
            'model.backbone.plugins.0.cfg.variant=S',
            '--work-dir',
            'bad',
        ],
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode != 0
    assert 'does not match the model built from this config' in out.stderr
    assert 'keys with other shapes' in out.stderr


def test_vis_attention(trained, toy_voc):
    """Labelled panels large enough to read, what each shows recorded; bad layer names and
    models without ELA refused with a non-zero exit."""
    cfg, ckpt, tmp = trained
    img = osp.join(toy_voc, 'VOC2007/JPEGImages/000009.jpg')
    out = run(
        [osp.join(ROOT, 'tools/vis_attention.py'), cfg, ckpt, img, '--out', 'att.png', '--cam'],
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    from PIL import Image

    w, h = Image.open(osp.join(tmp, 'att.png')).size
    assert w >= 3 * 500 and h >= 400  # three panels of readable size
    record = json.load(open(osp.join(tmp, 'att.json')))
    assert record['ela_layer'] == 'backbone.stage4.ela'
    lo, hi = record['ela_range']  # a briefly trained model's map may be flat: lo == hi
    assert 0 < lo <= hi < 1 and record['ela_scale'] == [lo, hi]
    assert record['cam_target'].startswith(('top box: ', 'top raw score (no final detection): '))
    assert 0 <= record['cam_score'] <= 1
    # tried from the box's level (YOLOX level l = CSPDarknet stage l+2) down; empty maps skipped
    level = int(re.search(r'level (\d)\)$', record['cam_target']).group(1))
    tried = record['cam_empty_layers']  # all empty: the last tried is the one shown
    tried = tried if record['cam_empty'] else [*tried, record['cam_layer']]
    assert tried[0] == f'backbone.stage{level + 2}' and len(set(tried)) == len(tried)
    assert all(n.startswith('backbone.') for n in tried)
    # what a one-epoch model's map looks like depends on the seed and the CPU: the tool must only
    # say which it is (the logit target itself is tested in test_detection_cam_follows_logits)
    if record['cam_empty']:
        assert 'warning: Grad-CAM map is empty' in out.stderr
    elif record['cam_empty_layers']:
        assert f'Grad-CAM map empty at {", ".join(record["cam_empty_layers"])}' in out.stdout
    out = run(
        [osp.join(ROOT, 'tools/vis_attention.py'), cfg, ckpt, img, '--layer', 'nope'],
        cwd=tmp,
        timeout=600,
    )
    assert 'backbone.stage4.ela' in out.stderr and out.returncode != 0
    # a model without ELA: nothing to draw is an error, not a silent success
    se_cfg = osp.join(tmp, 'se.py')
    with open(se_cfg, 'w') as f:
        f.write(
            f"_base_ = '{cfg}'\nmodel = dict(backbone=dict(plugins=[dict(cfg=dict(\n"
            "    type='SE'), stages=(False, True, True, True))]))\n"
        )
    from ela_mm.utils.config import build_model, load_config

    se_ckpt = osp.join(tmp, 'se.pth')
    torch.save({'state_dict': build_model(load_config(se_cfg)).state_dict()}, se_ckpt)
    out = run([osp.join(ROOT, 'tools/vis_attention.py'), se_cfg, se_ckpt, img], cwd=tmp)
    assert out.returncode != 0 and 'this model has no ELA module, nothing to draw' in out.stderr


def test_detection_cam_follows_logits(monkeypatch):
    """The detection Grad-CAM target is the top box's class logit plus its objectness logit
    (their sigmoid product picks the box): a confident box's score saturates, its logits do
    not, so the map cannot vanish because the model is sure."""
    monkeypatch.syspath_prepend(osp.join(ROOT, 'tools'))
    import runpy

    detection_target = runpy.run_path(osp.join(ROOT, 'tools/vis_attention.py'))['detection_target']
    cls = [torch.randn(1, 3, 4, 4), torch.randn(1, 3, 2, 2)]
    obj = [torch.randn(1, 1, 4, 4), torch.randn(1, 1, 2, 2)]
    cls[1][0, 2, 1, 0], obj[1][0, 0, 1, 0] = 30.0, 30.0  # a saturated box at level 1

    class Head(torch.nn.Module):
        def forward(self, t, mode):
            assert mode == 'tensor'
            return [c * t for c in cls], [None, None], [o * t for o in obj]

    wrapper, level, c, score, size = detection_target(Head(), torch.ones(()))
    assert (level, c, size) == (1, 2, (2, 2)) and score == pytest.approx(1.0)
    t = torch.ones((), requires_grad=True)
    out = wrapper(t)
    assert out.item() == pytest.approx(60.0)  # logits, not the saturated sigmoid product
    out.sum().backward()
    assert t.grad.item() == pytest.approx(60.0)


def test_resume_without_a_checkpoint_says_it_starts_from_scratch(trained, toy_voc):
    cfg, _, tmp = trained
    out = run(
        [
            osp.join(ROOT, 'tools/train.py'),
            cfg,
            '--work-dir',
            'fresh',
            '--resume',
            '--cfg-options',
            'train_cfg.max_epochs=1',
        ],
        cwd=tmp,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (
        '--resume: no checkpoint in fresh (no last_checkpoint file): training starts from '
        'scratch' in out.stdout
    )
    assert 'ela_mm kernels: compiled CPU extension' in out.stdout


def test_segmentation_train_test_show_dir(toy_voc, tmp_path):
    """The same tools on the DeepLabV3 toy config: mmseg's IoUMetric, drawings in the work dir."""
    base = osp.join(ROOT, 'configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-3000it_toyvoc-128x128.py')
    cfg = tmp_path / 'seg.py'
    cfg.write_text(
        '\n'.join(
            [
                f"_base_ = '{base}'",
                f"data_root = '{toy_voc}/VOC2007'",
                'train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,',
                '    dataset=dict(data_root=data_root))',
                'val_dataloader = dict(num_workers=0, persistent_workers=False,',
                '    dataset=dict(data_root=data_root))',
                'test_dataloader = val_dataloader',
                'train_cfg = dict(max_iters=2, val_interval=2)',
                'default_hooks = dict(checkpoint=dict(interval=2))',
            ]
        )
        + '\n'
    )
    out = run(
        [osp.join(ROOT, 'tools/train.py'), str(cfg), '--work-dir', 'w'],
        cwd=str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    out = run(
        [
            osp.join(ROOT, 'tools/test.py'),
            str(cfg),
            'w/iter_2.pth',
            '--work-dir',
            't',
            '--show-dir',
            'shown',
            '--out',
            'preds.pkl',
        ],
        cwd=str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'mIoU' in out.stdout + out.stderr
    # --out: the masks a user needs (uint8), no per-class logits, and its size said
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and all('seg_logits' not in p for p in preds)
    for p in preds:
        h, w = p['ori_shape']
        assert p['pred_sem_seg']['data'].dtype == torch.uint8
        assert tuple(p['pred_sem_seg']['data'].shape) == (1, h, w)
        assert tuple(p['gt_sem_seg']['data'].shape) == (1, h, w)
    size = osp.getsize(tmp_path / 'preds.pkl') / 2**20
    assert (
        'preds.pkl: predicted and ground-truth masks (uint8) and metadata, no logits, '
        f'{size:.1f} MiB' in out.stdout
    )
    drawn = glob.glob(str(tmp_path / 't' / 'shown' / '**' / '*.png'), recursive=True)
    assert len(drawn) == 4 and not (tmp_path / 'shown').exists()
    folder = osp.join('t', 'shown', 'vis_data', 'vis_image')  # the folder printed holds them
    assert f'drawings of the predictions written to {folder} ' in out.stdout
    assert sorted(drawn) == sorted(glob.glob(str(tmp_path / folder / '*.png')))
    import numpy as np
    from PIL import Image

    # ground truth | prediction, the masks at half opacity over the image: in the ground-truth
    # half the image keeps about half its brightness (measured 0.51-0.56; upstream's 0.8: 0.21-0.29)
    for p in drawn:
        src = osp.join(toy_voc, 'VOC2007/JPEGImages', osp.basename(p)[len('test_') :].split('_')[0])
        shown = np.asarray(Image.open(p).convert('L'), dtype=np.float64)
        image = np.asarray(Image.open(src).convert('L'), dtype=np.float64)
        assert shown.shape == (image.shape[0], 2 * image.shape[1])
        assert shown[:, : image.shape[1]].mean() / image.mean() > 0.4, p
    # Grad-CAM of a segmentor targets a foreground class unless asked otherwise
    img = glob.glob(f'{toy_voc}/VOC2007/JPEGImages/*.jpg')[0]
    out = run(
        [
            osp.join(ROOT, 'tools/vis_attention.py'),
            str(cfg),
            'w/iter_2.pth',
            img,
            '--cam',
            '--out',
            'seg_att.png',
        ],
        cwd=str(tmp_path),
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.load(open(tmp_path / 'seg_att.json'))
    target = record['cam_target']  # a foreground class, or a model that predicts none is named so
    assert (target.startswith('class ') and 'background' not in target) or target.startswith(
        'background only: the model predicts no foreground class'
    )
