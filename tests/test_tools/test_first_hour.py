"""The tools as a new user first runs them: a config without its data, launchers run from where
users run them, errors that name the fix early, options that fit the shipped configs, no
upstream notice before the result (the library-level checks of the same behaviours are in
tests/test_utils/)."""

import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from ela_mm.utils.checkpoint import read_checkpoint
from ela_mm.utils.config import load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py')
TOY_SEG = osp.join(ROOT, 'configs/toy/deeplabv3_r50-d8-w16-ela-b_1xb8-3000it_toyvoc-128x128.py')
ENV = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
ENV.pop('RANK', None)


def run(args, cwd, env=ENV, timeout=600):
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------ your own data
def test_missing_data_names_the_dotted_key_and_the_flag(tmp_path):
    out = run([osp.join(ROOT, 'tools/train.py'), TOY_DET, '--work-dir', 'w'], cwd=str(tmp_path))
    assert out.returncode != 0
    assert "dataset path 'data/toy_voc/' does not exist (relative to the current folder" in (
        out.stderr
    )
    assert 'train_dataloader.dataset.dataset.data_root' in out.stderr
    assert '--data-root DIR' in out.stderr and 'tools/misc/make_toy_voc.py' in out.stderr


# ------------------------------------------------------------------ where users run them
def test_launcher_scripts_use_python_and_quote_arguments(tmp_path):
    fake = tmp_path / 'fakepython'
    fake.write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    fake.chmod(0o755)
    env = dict(ENV, PYTHON=str(fake))
    out = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/dist_train.sh'), 'my cfg.py', '2', '--work-dir', 'a b'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split('\n')
    assert '[my cfg.py]' in lines and '[a b]' in lines and '[--nproc_per_node=2]' in lines
    out = subprocess.run(
        ['bash', osp.join(ROOT, 'tools/dist_test.sh'), 'c.py'],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and 'usage: bash' in out.stderr


# ------------------------------------------------------------------ errors name the fix, early
def test_truncated_checkpoint_and_the_test_tool(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1000)}}, good)
    data = good.read_bytes()
    bad = tmp_path / 'epoch_1.pth'
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match='is not a readable checkpoint'):
        read_checkpoint(str(bad))
    out = run([osp.join(ROOT, 'tools/test.py'), TOY_DET, str(bad)], cwd=str(tmp_path))
    assert out.returncode != 0 and 'is not a readable checkpoint' in out.stderr
    assert 'weights_only' not in out.stderr and 'Runner' not in out.stderr


def test_amp_without_gpu_and_pytorch_launcher_without_torchrun(tmp_path):
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: --amp is allowed')
    out = run([osp.join(ROOT, 'tools/train.py'), TOY_DET, '--amp'], cwd=str(tmp_path))
    assert out.returncode != 0 and '--amp needs a CUDA GPU' in out.stderr
    env = {k: v for k, v in ENV.items() if k not in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR')}
    out = run(
        [osp.join(ROOT, 'tools/train.py'), TOY_DET, '--launcher', 'pytorch'],
        cwd=str(tmp_path),
        env=env,
    )
    assert out.returncode != 0
    assert '--launcher pytorch expects the environment torchrun sets' in out.stderr
    assert 'tools/dist_train.sh' in out.stderr


# ------------------------------------------------------------------ options fit the configs
def test_toy_tta_scales_fit_the_toy_model():
    cfg = load_config(TOY_DET)
    (resizes,) = [t for t in cfg.tta_pipeline[1]['transforms'] if t[0]['type'] == 'Resize']
    scales = sorted(r['scale'] for r in resizes)
    lo, hi = cfg.model.data_preprocessor.batch_augments[0]['random_size_range']
    assert tuple(cfg.img_scale) in [tuple(s) for s in scales]
    assert all(lo <= s[0] <= hi and lo <= s[1] <= hi for s in scales), scales


@pytest.mark.parametrize('tool', ['get_model_flops', 'collect_grid', 'metafile'])
def test_known_upstream_notices_do_not_precede_the_result(tool, tmp_path, source_copy):
    """setuptools' pkg_resources notice and torch's torch.cuda.amp notices (from mmengine, mmcv,
    mmdet) are filtered in the tools; the tool's own output is what the user sees first."""
    env = dict(ENV)
    env.pop('PYTHONWARNINGS')  # as a user runs it
    if tool == 'get_model_flops':
        out = run([osp.join(ROOT, 'tools/analysis/get_model_flops.py'), TOY_DET], tmp_path, env)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.startswith('config:')
    elif tool == 'collect_grid':  # two finished runs: it reads the config they ran
        from test_first_hour_safety import PLAIN, fake_grid

        fake_grid(str(tmp_path / 'grid'), PLAIN, {0: 0.5, 1: 0.6}, dict(schedule=None))
        args = [osp.join(ROOT, 'tools/collect_grid.py'), str(tmp_path / 'grid'), '--no-cost']
        out = run(args, tmp_path, env)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.startswith('| attention |')
    else:  # --zoo writes docs/model_zoo.md under its own tree: a private copy's
        copy = source_copy(str(tmp_path / 'src'))
        out = run([osp.join(copy, 'tools/misc/metafile.py'), '--zoo'], tmp_path, env)
        assert out.returncode == 0, out.stderr[-2000:]
    assert 'pkg_resources' not in out.stderr and 'torch.cuda.amp' not in out.stderr, out.stderr
