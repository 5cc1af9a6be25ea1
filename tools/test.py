"""Evaluate a checkpoint: mAP (mmdet), mIoU (mmseg) or top-1 (mmpretrain), by the config.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--data-root DIR] [--out results.pkl]
                         [--show-dir DIR] [--tta] [--cfg-options k=v ...]
                         [--launcher {none,pytorch,slurm,mpi}]

``--out`` dumps the raw predictions (mmengine DumpResults); ``--show-dir`` writes images with
the predictions drawn (under the work dir's timestamped folder, as upstream tools do);
``--tta`` swaps in the config's ``tta_model``/``tta_pipeline``. Checkpoints load through torch's
safe loader (ela_mm allowlists mmengine's own types).
"""

import argparse
import os
import os.path as osp

from cli_args import add_common_args


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='config file (path or pkg::path)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='dump the predictions to this pickle file (segmentation: the predicted and '
        'ground-truth masks as uint8 with the metadata, without the per-class logits)',
    )
    parser.add_argument(
        '--show-dir',
        help='draw predictions into this folder, inside the '
        'work dir (mmdet, mmpretrain: inside its timestamped run folder)',
    )
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    add_common_args(parser)
    return parser, parser.parse_args(argv)


def compact_segmentation(sample: dict) -> dict:
    """A segmentation prediction for ``--out``: its masks (``pred_sem_seg``, ``gt_sem_seg``) as
    uint8 where the classes fit, without the per-class ``seg_logits`` (4 bytes per class and
    pixel: they made the pickle of 80 toy images 94 MB); the metadata as it was."""
    import torch

    out = {k: v for k, v in sample.items() if k != 'seg_logits'}
    for key in ('pred_sem_seg', 'gt_sem_seg'):
        data = out.get(key, {}).get('data') if isinstance(out.get(key), dict) else None
        if isinstance(data, torch.Tensor) and data.numel() and 0 <= data.min() and data.max() < 256:
            out[key] = dict(out[key], data=data.to(torch.uint8))
    return out


def register_dump_metric() -> str:
    """Register ``DumpSegResults`` (mmengine's ``DumpResults`` writing
    :func:`compact_segmentation` of each prediction); returns its type name."""
    from mmengine.evaluator import DumpResults
    from mmengine.registry import METRICS

    class DumpSegResults(DumpResults):
        def process(self, data_batch, predictions) -> None:
            super().process(data_batch, [compact_segmentation(p) for p in predictions])

    METRICS.register_module(name='DumpSegResults', module=DumpSegResults, force=True)
    return 'DumpSegResults'


def enable_drawing(cfg, show_dir: str) -> None:
    """Turn on the scope's visualization hook so that it saves drawn predictions."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise ValueError('--show-dir: the config has no default_hooks.visualization')
    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        hook.update(draw=True, test_out_dir=show_dir)
    elif scope == 'mmseg':  # mmseg's visualizer saves relative to the cwd: keep it in work_dir
        hook.update(draw=True, interval=1)
        cfg.visualizer['save_dir'] = osp.join(cfg.work_dir, show_dir)
    elif scope == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir)
    else:
        raise ValueError(f'--show-dir: unsupported scope {scope!r}')


def drawn_to(cfg, runner, show_dir: str) -> str:
    """The folder the scope's visualization hook writes the drawings into."""
    if cfg.get('default_scope') == 'mmseg':  # mmengine's LocalVisBackend under save_dir
        return osp.join(cfg.work_dir, show_dir, 'vis_data', 'vis_image')
    return osp.join(runner.log_dir, show_dir)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)  # upstream notices hidden, --cfg-options parsed
    import ela_mm  # noqa: F401  (registers the modules, allowlists checkpoint types)
    from ela_mm.ops import kernels_in_use
    from ela_mm.utils.checkpoint import check_checkpoint, read_checkpoint
    from ela_mm.utils.data_check import check_data
    from ela_mm.utils.launch import build_runner, close_distributed, setup_config
    from ela_mm.utils.validate import check_attention_args

    ckpt = read_checkpoint(args.checkpoint)  # a missing or unreadable file fails here, early
    cfg = setup_config(args)
    check_attention_args(cfg, args.config)
    if int(os.environ.get('RANK', 0)) == 0:
        print(kernels_in_use(), flush=True)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        enable_drawing(cfg, args.show_dir)
    if args.tta:
        if not cfg.get('tta_model') or not cfg.get('tta_pipeline'):
            raise ValueError('--tta: the config defines no tta_model / tta_pipeline')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {args.out!r}')
        evaluators = cfg.test_evaluator
        evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
        dump = register_dump_metric() if cfg.get('default_scope') == 'mmseg' else 'DumpResults'
        cfg.test_evaluator = evaluators + [dict(type=dump, out_file_path=args.out)]
    check_data(cfg, ['test_dataloader'])

    runner = build_runner(cfg)
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    check_checkpoint(model, args.checkpoint, ckpt)
    del ckpt
    runner.test()
    close_distributed()
    if args.out and int(os.environ.get('RANK', 0)) == 0 and osp.isfile(args.out):
        what = (
            'predicted and ground-truth masks (uint8) and metadata, no logits'
            if cfg.get('default_scope') == 'mmseg'
            else 'the raw predictions'
        )
        print(f'{args.out}: {what}, {osp.getsize(args.out) / 2**20:.1f} MiB')
    if args.show_dir:
        print(
            f'drawings of the predictions written to {drawn_to(cfg, runner, args.show_dir)} '
            + (
                '(class names and scores written on each image)'
                if cfg.get('default_scope') == 'mmpretrain'
                else '(ground truth left, prediction right)'
            )
        )


if __name__ == '__main__':
    main()
