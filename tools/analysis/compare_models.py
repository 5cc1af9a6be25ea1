"""Compare the attention modules inside one model family, in ONE process, interleaved.

    python tools/analysis/compare_models.py FAMILY [--device cpu|cuda]
        [--shape H W] [--train-batch 2] [--repeats 10] [--write docs/benchmarks.md]

FAMILY: yolox, rtmdet, faster-rcnn, deeplabv3, deeplabv3-mv2, resnet50.

Builds the plain model and every config that the model index lists as the same recipe with an
attention module (same insertion points; ``ela_mm.utils.model_index``), then prints one table:
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

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for cli_args

from cli_args import add_cfg_options  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: family -> (plain baseline config name, default input size or None for the config's own)
FAMILIES = {
    'yolox': ('yolox_nano_8xb8-300e_voc0712', None),
    'rtmdet': ('rtmdet_tiny_8xb32-300e_coco', (320, 320)),
    'faster-rcnn': ('faster-rcnn_r50_fpn_8xb2-1x_coco', (320, 320)),
    'deeplabv3': ('deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512', (256, 256)),
    'deeplabv3-mv2': ('deeplabv3_m-v2-d8_4xb4-20k_voc12aug-512x512', (256, 256)),
    'resnet50': ('resnet50_8xb32_in1k', None),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('family', choices=sorted(FAMILIES))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'))
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=10)
    add_cfg_options(parser)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    args = parser.parse_args()
    return parser, args


if __name__ == '__main__':
    parse_args()  # before the heavy imports: -h and bad options answer at once

import torch  # noqa: E402

import ela_mm  # noqa: E402,F401
from ela_mm.utils.config import build_model, count_params, input_size, load_config  # noqa: E402
from ela_mm.utils.flops import count_flops  # noqa: E402
from ela_mm.utils.model_index import comparison_rows  # noqa: E402
from ela_mm.utils.report import report  # noqa: E402
from ela_mm.utils.synthetic import (  # noqa: E402
    WithSamples,
    inference_fn,
    num_classes,
    synthetic_batch,
    train_step_fn,
)
from ela_mm.utils.timing import interleaved_samples, paired_ratio, peak_bytes  # noqa: E402


def compare(family: str, device: str, shape, train_batch: int, repeats: int, cfg_options=None):
    baseline, default_shape = FAMILIES[family]
    models, steps, rows = {}, {}, []
    for entry in comparison_rows(ROOT, baseline):
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


def main() -> int:
    parser, args = parse_args()
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
