"""CPU multi-process training of a SyncBN config (tools/train.py under torchrun, gloo): SyncBN
runs as BN with a printed note instead of DDP's 'SyncBatchNorm layers only work with GPU
modules'."""

import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY_SEG = osp.join(ROOT, 'configs/toy/deeplabv3_r50-d8-w16_1xb8-3000it_toyvoc-128x128.py')
ENV = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
    ENV.pop(k, None)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU launcher path (no CUDA)')
def test_two_cpu_processes_train_a_syncbn_config(tmp_path, toy_voc):
    data = toy_voc
    from ela_mm.utils.config import load_config

    assert load_config(TOY_SEG).model.backbone.norm_cfg.type == 'SyncBN'  # what is tested
    cfg = tmp_path / 'seg.py'
    cfg.write_text(
        '\n'.join(
            [
                f"_base_ = '{TOY_SEG}'",
                f"data_root = '{data}/VOC2007'",
                'train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,',
                '    dataset=dict(data_root=data_root))',
                'val_dataloader = dict(num_workers=0, persistent_workers=False,',
                '    dataset=dict(data_root=data_root))',
                'test_dataloader = val_dataloader',
                'train_cfg = dict(max_iters=1, val_interval=1)',
                'default_hooks = dict(checkpoint=dict(interval=1))',
            ]
        )
        + '\n'
    )
    work = tmp_path / 'work'
    out = subprocess.run(
        [
            sys.executable,
            '-m',
            'torch.distributed.run',
            '--standalone',  # a free port of the OS's choosing
            '--nproc_per_node=2',
            osp.join(ROOT, 'tools/train.py'),
            str(cfg),
            '--launcher',
            'pytorch',
            '--work-dir',
            str(work),
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count('SyncBN on CPU: ') == 1, out.stdout[-3000:]  # rank 0 says it once
    assert 'run as BatchNorm in this CPU distributed run' in out.stdout
    log = open(glob.glob(osp.join(work, '*', '*.log'))[0]).read()
    assert 'Distributed training: True' in log and 'mIoU' in log
    ckpt = torch.load(osp.join(work, 'iter_1.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 1
    # BN and SyncBN share their state-dict keys: the checkpoint loads into the SyncBN model
    from ela_mm.utils.config import build_model

    model = build_model(load_config(str(cfg)))
    assert set(model.state_dict()) == set(ckpt['state_dict'])
