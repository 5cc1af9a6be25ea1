"""Training memory of the attention modules inside whole models, lean (default) and not.

    python tools/analysis/bench_memory.py [--families resnet50 yolox deeplabv3]
        [--device cpu|cuda] [--train-batch 2] [--repeats 5] [--write docs/benchmarks.md]

For every model of each family (the plain baseline and its attention rows, from the model index)
and each attention once with ``lean=True`` (what ships: the attention keeps what the layer
before it keeps, ela_mm.ops.recompute) and once with ``lean=False`` (it keeps its input), in
ONE process:

* bytes autograd keeps for backward, counted through saved-tensor hooks, each storage once
  (``ela_mm.utils.memory.saved_bytes``; deterministic), as a ratio to the plain model;
* training-step peak memory (``ela_mm.utils.timing.peak_bytes``), as a ratio to the plain model;
* the train-step time of lean over not lean, as the median of per-round ratios over interleaved
  rounds (the cost of rebuilding the attention's input in backward).

Targets: ResNet-50 + ELA-B kept bytes / ResNet-50 <= 1.05; lean train step <= 1.05 x not lean.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: family -> (plain baseline config name, input size)
FAMILIES = {
    'resnet50': ('resnet50_8xb32_in1k', (224, 224)),
    'yolox': ('yolox_nano_8xb8-300e_voc0712', (416, 416)),
    'deeplabv3': ('deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512', (256, 256)),
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--families', nargs='+', default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    args = parser.parse_args()
    return parser, args


if __name__ == '__main__':
    parse_args()  # before the heavy imports: -h and bad options answer at once

import torch  # noqa: E402

sys.path.append(osp.dirname(osp.dirname(osp.abspath(__file__))))  # tools/, for cli_args
import cli_args  # noqa: E402,F401  (filters the known upstream notices)

import ela_mm  # noqa: E402,F401
from ela_mm.models.attention import CBAM, ECA, ELA, SE, CoordAtt  # noqa: E402
from ela_mm.utils.config import build_model, load_config  # noqa: E402
from ela_mm.utils.memory import saved_bytes  # noqa: E402
from ela_mm.utils.model_index import comparison_rows  # noqa: E402
from ela_mm.utils.report import report  # noqa: E402
from ela_mm.utils.synthetic import num_classes, synthetic_batch, train_step_fn  # noqa: E402
from ela_mm.utils.timing import interleaved_samples, paired_ratio, peak_bytes  # noqa: E402


def set_lean(model, lean: bool) -> int:
    """Switch every attention module of ``model``; returns how many there are."""
    mods = [m for m in model.modules() if isinstance(m, (ELA, CoordAtt, SE, ECA, CBAM))]
    for m in mods:
        m.lean = lean
    return len(mods)


def measure(family: str, device: str, batch: int, repeats: int):
    baseline, hw = FAMILIES[family]
    rows, steps = [], {}
    for entry in comparison_rows(ROOT, baseline):
        cfg = load_config(entry['path'])
        model = build_model(cfg).to(device).train()
        inputs, samples = synthetic_batch(cfg.default_scope, batch, hw, num_classes(cfg), device)
        step = train_step_fn(model, inputs, samples)
        step()  # lazy allocations, BN buffers

        def loss(model=model, inputs=inputs, samples=samples):
            return model.parse_losses(model(inputs, samples, mode='loss'))[0]

        name = entry['parsed'].attention or 'plain'
        for lean in (True, False) if name != 'plain' else (True,):
            set_lean(model, lean)
            kept = saved_bytes(loss, model)['bytes']
            peak = peak_bytes(step, device)
            label = name if lean else f'{name} (not lean)'
            rows.append(dict(name=label, att=name, lean=lean, kept=kept, peak=peak))
        if name != 'plain':  # the time of a lean step against a keep-the-input step, paired

            def on(model=model, step=step):
                set_lean(model, True)
                step()

            def off(model=model, step=step):
                set_lean(model, False)
                step()

            steps[name] = (on, off)
    times = {}
    for name, (on, off) in steps.items():
        s = interleaved_samples({'on': on, 'off': off}, device, repeats)
        times[name] = paired_ratio(s['on'], s['off'])
    return rows, times, hw


def table(family: str, rows, times) -> str:
    base = rows[0]
    out = [
        '| model | kept for backward | / plain | train-step peak | / plain | lean step time / '
        'not lean |',
        '|---|---|---|---|---|---|',
    ]
    for r in rows:
        t = f'{times[r["att"]]:.3f}' if r['lean'] and r['att'] in times else ''
        out.append(
            f'| {family} {r["name"]} | {r["kept"] / 2**20:.1f} MiB | '
            f'{r["kept"] / base["kept"]:.3f} | {r["peak"] / 2**20:.1f} MiB | '
            f'{r["peak"] / base["peak"]:.3f} | {t} |'
        )
    return '\n'.join(out)


def main() -> int:
    parser, args = parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    for family in args.families:
        rows, times, hw = measure(family, args.device, args.train_batch, args.repeats)
        text = table(family, rows, times)
        print(text, flush=True)
        if args.write:
            report(
                args.write,
                f'bench_memory:{family}:{args.device}',
                f'Training memory, {family} ({args.device}, input {hw[0]}x{hw[1]}, train batch '
                f'{args.train_batch})',
                args.device,
                args.repeats,
                text,
            )
    return 0


if __name__ == '__main__':
    sys.exit(main())
