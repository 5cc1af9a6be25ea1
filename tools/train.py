"""Train a detector, segmentor or classifier from any ela_mm or OpenMMLab config.

    python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR] [--resume [CKPT]] [--amp]
                          [--auto-scale-lr] [--schedule 12e|300it] [--cfg-options k=v ...]
                          [--launcher {none,pytorch,slurm,mpi}]

The config's ``default_scope`` (mmdet, mmseg, mmpretrain) decides which library's registries,
datasets and metrics are used. ela_mm is imported here, so configs need no custom_imports.
Multi-GPU / multi-node: tools/dist_train.sh, tools/slurm_train.sh (see README).
"""

import argparse
import os
import os.path as osp
import sys

from cli_args import add_common_args


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
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate with the total batch size',
    )
    parser.add_argument(
        '--schedule',
        metavar='LENGTH',
        help='train for LENGTH (12e: epochs; 300it or 20k: iterations) with the learning-rate '
        'steps, warm-up and mode switches moved in proportion (ela_mm.utils.schedule)',
    )
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()  # before the heavy imports: -h answers at once
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    import torch

    import ela_mm  # noqa: F401  (registers the modules, allowlists checkpoint types)
    from ela_mm.ops import kernels_in_use
    from ela_mm.utils.data_check import check_data
    from ela_mm.utils.launch import (
        build_runner,
        close_distributed,
        setup_config,
        write_run_record,
    )

    if args.amp and not torch.cuda.is_available():
        raise SystemExit(
            "--amp needs a CUDA GPU: mmengine's AmpOptimWrapper trains in mixed precision on "
            'GPUs only, and this machine has none. Drop --amp to train in float32 here.'
        )
    cfg = setup_config(args)
    if args.schedule:
        from ela_mm.utils.schedule import scale_schedule

        try:
            changes = scale_schedule(cfg, args.schedule)
        except ValueError as e:
            raise SystemExit(str(e)) from None
        print('--schedule: ' + '; '.join(changes), flush=True)
    if int(os.environ.get('RANK', 0)) == 0:
        print(kernels_in_use(), flush=True)
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
        if not osp.isfile(osp.join(cfg.work_dir, 'last_checkpoint')):
            print(
                f'--resume: no checkpoint in {cfg.work_dir} (no last_checkpoint file): training '
                f'starts from scratch',
                flush=True,
            )
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise SystemExit(f'--resume {args.resume}: no such checkpoint file')
        cfg.resume, cfg.load_from = True, args.resume
    check_data(
        cfg, ['train_dataloader', 'val_dataloader'] if cfg.get('val_cfg') else ['train_dataloader']
    )

    if int(os.environ.get('RANK', 0)) == 0:
        write_run_record(cfg, args)
    runner = build_runner(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
