"""Speed and memory of one config's model on synthetic data (no dataset needed).

    python tools/analysis/bench_model.py CONFIG [--device cpu|cuda] [--shape H W]
                                       [--batch 8] [--train-batch 2] [--repeats 10]

Prints inference latency at batch 1 and at ``--batch`` (eval, no grad, network only), the time
of a training step (forward + loss + backward) at ``--train-batch`` and its peak memory. CPU by
default; ``--device cuda`` times with CUDA events after warm-up. Medians over ``--repeats``.
"""

import argparse
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Latency, training-step time and memory')
    parser.add_argument('config')
    parser.add_argument(
        '--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries'
    )
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=8, help='the larger inference batch')
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    return parser, parser.parse_args(argv)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import torch

    import ela_mm  # noqa: F401  (registers the modules)
    from ela_mm.analysis.report import machine
    from ela_mm.analysis.synthetic import inference_fn, num_classes, synthetic_batch, train_step_fn
    from ela_mm.analysis.timing import interleaved, peak_bytes
    from ela_mm.utils.config import build_model, input_size, load_config

    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('--device cuda: no CUDA device is available')
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg).to(args.device)
    hw = tuple(args.shape) if args.shape else input_size(cfg)
    scope = cfg.default_scope
    nc = num_classes(cfg)
    one = synthetic_batch(scope, 1, hw, nc, args.device)
    many = synthetic_batch(scope, args.batch, hw, nc, args.device)
    inputs, samples = synthetic_batch(scope, args.train_batch, hw, nc, args.device)
    t = interleaved(
        {
            'b1': inference_fn(model, *one),
            'bn': inference_fn(model, *many),
            'train': train_step_fn(model, inputs, samples),
        },
        args.device,
        args.repeats,
    )
    mem = peak_bytes(train_step_fn(model, inputs, samples), args.device)
    print(
        f'{args.config} on {machine(args.device)}, input {hw[0]}x{hw[1]}, median of {args.repeats}:'
    )
    print(f'  inference, batch 1:            {t["b1"] * 1e3:9.1f} ms')
    print(
        f'  inference, batch {args.batch:<3d}           {t["bn"] * 1e3:9.1f} ms '
        f'({t["bn"] / args.batch * 1e3:.1f} ms/image)'
    )
    print(f'  training step, batch {args.train_batch:<3d}       {t["train"] * 1e3:9.1f} ms')
    print(f'  training step peak memory:     {mem / 2**20:9.1f} MiB')


if __name__ == '__main__':
    main()
