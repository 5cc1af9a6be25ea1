"""Parameters and FLOPs of any config's model, on a synthetic input (no dataset needed).

    python tools/analysis/get_model_flops.py CONFIG [--shape H W] [--batch 1]

Units, stated because tools differ: ``MACs`` is what mmengine's FlopAnalyzer counts (one per
multiply-accumulate in convolutions, linear layers and matmuls; 4-5 per element in normalisation
layers). mmengine counts nothing for means, sigmoid, elementwise products and sums, i.e. almost
all of an attention module's own work; ``elementwise ops`` counts those at one operation per
element (reductions by input size, the rest by output size). ``total`` = MACs + elementwise ops.
"""

import argparse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Parameters and FLOPs of a config')
    parser.add_argument('config')
    parser.add_argument(
        '--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries'
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="input size (default: the config's test size)",
    )
    parser.add_argument('--batch', type=int, default=1)
    return parser, parser.parse_args(argv)


def human(n: float) -> str:
    for unit, div in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if abs(n) >= div:
            return f'{n / div:.3f} {unit}'
    return str(int(n))


def analyse(config: str, shape=None, batch: int = 1, cfg_options=None) -> dict:
    import ela_mm  # noqa: F401  (registers the modules)
    from ela_mm.analysis.flops import model_cost
    from ela_mm.utils.config import load_config

    cfg = load_config(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return model_cost(cfg, shape, batch)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    if args.shape and min(args.shape) < 1 or args.batch < 1:
        raise SystemExit(f'--shape {args.shape} / --batch {args.batch}: must be positive')
    try:
        r = analyse(args.config, args.shape, args.batch, args.cfg_options)
    except ValueError as e:
        raise SystemExit(f'get_model_flops: {e}') from None
    print(f'config:            {args.config}')
    print(f'input:             {r["batch"]} x 3 x {r["shape"][0]} x {r["shape"][1]}')
    print(f'parameters:        {r["params"]:,} ({human(r["params"])})')
    print(f'MACs (mmengine):   {r["macs"]:,} ({human(r["macs"])}MAC)')
    print(
        f'elementwise ops:   {r["elementwise"]:,} ({human(r["elementwise"])}OP)  '
        f'(means, activations, gating products, additions: 1 per element)'
    )
    print(f'total:             {r["total"]:,} ({human(r["total"])})')


if __name__ == '__main__':
    main()
