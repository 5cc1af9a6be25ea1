"""Train a detector, segmentor or classifier from any ela_mm or OpenMMLab config.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--auto-scale-lr] [--cfg-options k=v ...]
                          [--launcher {none,pytorch,slurm,mpi}]

The config's ``default_scope`` (mmdet, mmseg, mmpretrain) decides which library's registries,
datasets and metrics are used. ela_mm is imported here, so configs need no custom_imports.
Multi-GPU / multi-node: tools/dist_train.sh, tools/slurm_train.sh (see README).
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import ela_mm  # noqa: E402,F401  (registers the modules, allowlists checkpoint types)
from ela_mm.utils.data_check import check_data  # noqa: E402
from ela_mm.utils.launch import add_common_args, build_runner, setup_config  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='config file (path or pkg::path)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT is given',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the total batch size',
    )
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = setup_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if not cfg.get('auto_scale_lr'):
            raise ValueError(
                '--auto-scale-lr: the config has no auto_scale_lr (base_batch_size) to scale from'
            )
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    check_data(
        cfg, ['train_dataloader', 'val_dataloader'] if cfg.get('val_cfg') else ['train_dataloader']
    )

    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
