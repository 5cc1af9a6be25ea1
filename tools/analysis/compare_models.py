"""Compare the attention modules inside one model family, in ONE process, interleaved.

    python tools/analysis/compare_models.py FAMILY [--device cpu|cuda]
        [--shape H W] [--train-batch 2] [--repeats 10] [--write docs/benchmarks.md]

FAMILY: a name of ``ela_mm.comparison.catalogue.FAMILIES`` (yolox, rtmdet, faster-rcnn,
deeplabv3, deeplabv3-mv2, resnet50, ...; an unknown name lists them).

Builds the plain model and every config that the model index lists as the same recipe with an
attention module (same insertion points; ``ela_mm.comparison.catalogue``), then prints one table:
parameters, MACs and elementwise ops (tools/analysis/get_model_flops.py units), inference
latency at batch 1 (each round runs every model once, in turn; the median time, and ratios as
medians of the per-round ratios) and training-step peak memory, each as a ratio to the plain
model, with the targets:

* YOLOX-Nano + ELA latency / YOLOX-Nano <= 1.05
* ResNet-50 + ELA training-step peak memory / ResNet-50 <= 1.10
* ELA no slower than CA in the same slots (latency ratio <= 1.0)
"""

import argparse
import os.path as osp
import statistics
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'family', help='a family of ela_mm.comparison.catalogue.FAMILIES (e.g. yolox, resnet50)'
    )
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument(
        '--cfg-options', nargs='+', metavar='KEY=VALUE', help='override config entries'
    )
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    return parser, parser.parse_args(argv)


def compare(family: str, device: str, shape, train_batch: int, repeats: int, cfg_options=None):
    import torch

    from ela_mm.analysis.flops import count_flops
    from ela_mm.analysis.synthetic import (
        WithSamples,
        inference_fn,
        num_classes,
        synthetic_batch,
        train_step_fn,
    )
    from ela_mm.analysis.timing import interleaved_samples, peak_bytes
    from ela_mm.comparison.catalogue import comparison_rows, family_named
    from ela_mm.utils.config import build_model, count_params, input_size, load_config

    fam = family_named(family)
    default_shape = fam.size
    models, steps, rows = {}, {}, []
    for entry in comparison_rows(ROOT, fam.baseline):
        cfg = load_config(entry['path'])
        if cfg_options:  # the same overrides for every model of the family
            cfg.merge_from_dict(cfg_options)
        hw = tuple(shape or default_shape or input_size(cfg))
        model = build_model(cfg).to(device)
        model.eval()
        one = synthetic_batch(cfg.default_scope, 1, hw, num_classes(cfg), device)
        with torch.no_grad():
            flops = count_flops(WithSamples(model, one[1]), (one[0],))
        name = entry['parsed'].attention or 'plain'
        models[name] = model
        inputs, samples = synthetic_batch(
            cfg.default_scope, train_batch, hw, num_classes(cfg), device
        )
        steps[name] = train_step_fn(model, inputs, samples)
        rows.append(dict(name=name, params=count_params(model), **flops))
    lat = interleaved_samples(
        {n: inference_fn(m, *one) for n, m in models.items()}, device, repeats
    )
    for step in steps.values():  # one unmeasured step each: lazy allocations, BN buffers
        step()
    mem = {n: peak_bytes(steps[n], device) for n in models}
    for r in rows:
        r.update(
            samples=lat[r['name']], latency=statistics.median(lat[r['name']]), memory=mem[r['name']]
        )
    return rows, hw


def table(rows, family: str) -> str:
    from ela_mm.analysis.timing import paired_ratio

    base = rows[0]
    out = [
        '| model | params | MACs | elementwise ops | latency b1 | latency / plain | '
        'train-step memory | memory / plain |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for r in rows:
        out.append(
            f'| {family} {r["name"]} | {r["params"]:,} | {r["macs"] / 1e9:.3f} G | '
            f'{r["elementwise"] / 1e6:.1f} M | {r["latency"] * 1e3:.1f} ms | '
            f'{paired_ratio(r["samples"], base["samples"]):.3f} | '
            f'{r["memory"] / 2**20:.0f} MiB | '
            f'{r["memory"] / base["memory"]:.3f} |'
        )
    return '\n'.join(out)


def targets(rows, family: str):
    from ela_mm.analysis.timing import paired_ratio

    by = {r['name']: r for r in rows}
    ela = next(r for r in rows if r['name'].startswith('ELA'))
    checks = [
        (
            f'{ela["name"]} latency / CA latency',
            paired_ratio(ela['samples'], by['CA']['samples']),
            1.0,
        )
    ]
    if family == 'yolox':
        checks.append(
            (
                f'{ela["name"]} latency / plain latency',
                paired_ratio(ela['samples'], by['plain']['samples']),
                1.05,
            )
        )
    if family == 'resnet50':
        checks.append(
            (
                f'{ela["name"]} train-step memory / plain',
                ela['memory'] / by['plain']['memory'],
                1.10,
            )
        )
    return checks


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import torch

    from ela_mm.analysis.report import report
    from ela_mm.comparison.catalogue import FAMILIES

    if args.family not in FAMILIES:
        parser.error(f'family {args.family!r}: choose from {", ".join(FAMILIES)}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    rows, hw = compare(
        args.family, args.device, args.shape, args.train_batch, args.repeats, args.cfg_options
    )
    text = table(rows, args.family)
    lines = [
        f'| {what} | {value:.3f} | <= {target} | {"yes" if value <= target else "**no**"} |'
        for what, value, target in targets(rows, args.family)
    ]
    text += '\n\n| target | measured | target | met |\n|---|---|---|---|\n' + '\n'.join(lines)
    print(text)
    if args.write:
        report(
            args.write,
            f'compare_models:{args.family}:{args.device}',
            f'{args.family} ({args.device}, input {hw[0]}x{hw[1]}, train batch {args.train_batch})',
            args.device,
            args.repeats,
            text,
        )
        print(f'written to {args.write}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
