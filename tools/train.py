"""Train a detector, segmentor or classifier from any ela_mm or OpenMMLab config.

    python tools/train.py CONFIG [--work-dir DIR] [--data-root DIR] [--resume [CKPT]] [--amp]
                          [--auto-scale-lr] [--schedule 12e|300it] [--allow-partial-load]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]

Before anything is built: the attention arguments are checked, the checkpoint of ``--resume`` /
``load_from`` is read and must fit the model (``--allow-partial-load`` lets ``load_from`` load
only the weights that fit), a resumed run gets the ``--schedule`` it was started with (from its
``run.json``), and every data path is checked.

The config's ``default_scope`` (mmdet, mmseg, mmpretrain) decides which library's registries,
datasets and metrics are used. ela_mm is imported here, so configs need no custom_imports.
Multi-GPU / multi-node: tools/dist_train.sh, tools/slurm_train.sh (docs/user_guides/train_test.md).
"""

import argparse
import os
import os.path as osp

from cli_args import add_common_args


def parse_args(argv=None):
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
    parser.add_argument(
        '--allow-partial-load',
        action='store_true',
        help='load_from: load the weights that fit the model and train the others from their '
        'initialisation (default: a checkpoint that does not fit is an error)',
    )
    add_common_args(parser)
    return parser, parser.parse_args(argv)


def checkpoint_to_load(cfg, args):
    """(path, flag) of the checkpoint this run loads (--resume CKPT, the work dir's latest one for
    --resume, or the config's load_from), resolved as the user meant it (a folder, mmengine's
    last_checkpoint pointer: see resolve_checkpoint); (None, None) when it loads none."""
    from ela_mm.utils.checkpoint import resolve_checkpoint

    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
        pointer = osp.join(cfg.work_dir, 'last_checkpoint')
        if not osp.isfile(pointer):
            print(
                f'--resume: no checkpoint in {cfg.work_dir} (no last_checkpoint file): training '
                f'starts from scratch',
                flush=True,
            )
            return None, None
        path, flag = resolve_checkpoint(pointer, '--resume'), '--resume'
    elif args.resume is not None:
        path, flag = resolve_checkpoint(args.resume, '--resume'), '--resume'
    elif cfg.get('load_from'):
        path, flag = resolve_checkpoint(cfg.load_from, 'load_from'), 'load_from'
    else:
        return None, None
    cfg.load_from = path
    cfg.resume = flag == '--resume'
    return path, flag


def check_fit(cfg, args, path: str, flag: str, ckpt) -> None:
    """The checkpoint fits the model (built here, before the runner): else stop, naming the keys
    and the config the checkpoint came from; ``load_from`` with --allow-partial-load goes on."""
    from ela_mm.utils.checkpoint import check_checkpoint
    from ela_mm.utils.config import build_model

    try:
        model = build_model(cfg)
    except Exception as e:  # noqa: BLE001  (reported with the config, before the runner)
        raise SystemExit(f'{args.config}: the model cannot be built: {e}') from None
    partial = flag == 'load_from' and args.allow_partial_load
    if flag == '--resume':
        fix = 'To resume, use the config of that run.'
    elif partial:
        fix = 'Loading only the weights that fit (--allow-partial-load); the others train from '
        fix += 'their initialisation.'
    else:
        fix = 'To start from the weights that fit and train the others from their '
        fix += 'initialisation, add --allow-partial-load.'
    try:
        check_checkpoint(model, path, ckpt, fix=fix)
    except ValueError as e:
        if partial:
            print(f'--allow-partial-load: {e}', flush=True)
            return
        raise SystemExit(f'{flag}: {e}') from None


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)  # upstream notices hidden, --cfg-options parsed
    import torch

    import ela_mm  # noqa: F401  (registers the modules, allowlists checkpoint types)
    from ela_mm.ops import kernels_in_use
    from ela_mm.utils.data_check import check_data
    from ela_mm.utils.launch import build_runner, close_distributed, setup_config
    from ela_mm.utils.record import read_run_record, write_run_record

    if args.amp and not torch.cuda.is_available():
        raise SystemExit(
            "--amp needs a CUDA GPU: mmengine's AmpOptimWrapper trains in mixed precision on "
            'GPUs only, and this machine has none. Drop --amp to train in float32 here.'
        )
    from ela_mm.utils.checkpoint import read_checkpoint
    from ela_mm.utils.launch import checkpoint_length, resume_schedule
    from ela_mm.utils.validate import check_attention_args

    cfg = setup_config(args)
    check_attention_args(cfg, args.config)
    path = flag = None
    try:
        path, flag = checkpoint_to_load(cfg, args)
        ckpt = read_checkpoint(path) if path else None
    except (FileNotFoundError, ValueError) as e:  # named by their flag, before any build
        msg = str(e)
        raise SystemExit(msg if msg.startswith(('--resume', 'load_from')) else f'{flag}: {msg}')
    if flag == '--resume':
        folders = [cfg.work_dir] if args.resume == 'auto' else [osp.dirname(path), cfg.work_dir]
        where = next((d for d in folders if read_run_record(d)), None)
        command = ' '.join(['python tools/train.py', args.config, '--work-dir', cfg.work_dir])
        command += ' --resume' + ('' if args.resume == 'auto' else f' {args.resume}')
        args.schedule = resume_schedule(
            args.schedule,
            read_run_record(where) if where else {},
            osp.join(where, 'run.json') if where else '',
            command,
        )
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
            raise SystemExit(
                '--auto-scale-lr: the config has no auto_scale_lr (base_batch_size) to scale from'
            )
        cfg.auto_scale_lr.enable = True
    if flag == '--resume':
        length = checkpoint_length(ckpt)
        key = 'max_epochs' if 'max_epochs' in cfg.train_cfg else 'max_iters'
        if length is not None and length != (key, cfg.train_cfg.get(key)):
            raise SystemExit(
                f'--resume {path}: the checkpoint was written by a run of {length[0]}='
                f'{length[1]}, this one is set to {key}={cfg.train_cfg.get(key)}; resuming would '
                f'continue on another schedule. Give the --schedule the run was started with '
                f'(e.g. --schedule {length[1]}{"e" if length[0] == "max_epochs" else "it"}), or '
                f'start the new schedule in a new --work-dir'
            )
    if ckpt is not None:
        check_fit(cfg, args, path, flag, ckpt)
        del ckpt
    check_data(
        cfg, ['train_dataloader', 'val_dataloader'] if cfg.get('val_cfg') else ['train_dataloader']
    )

    if int(os.environ.get('RANK', 0)) == 0:
        write_run_record(cfg, args)
    runner = build_runner(cfg)
    runner.train()
    del runner  # its DDP wrapper holds the process group: release it first
    close_distributed()


if __name__ == '__main__':
    main()
