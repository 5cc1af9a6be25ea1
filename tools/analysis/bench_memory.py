"""Training memory of the attention modules inside whole models, lean (default) and not.

    python tools/analysis/bench_memory.py [--families resnet50 yolox deeplabv3]
        [--device cpu|cuda] [--train-batch 2] [--repeats 5] [--write docs/benchmarks.md]

For every model of each family (the plain baseline and its attention rows, from the model index)
and each attention once with ``lean=True`` (what ships: the attention keeps what the layer
before it keeps, ela_mm.ops.recompute) and once with ``lean=False`` (it keeps its input), in
ONE process:

* bytes autograd keeps for backward, counted through saved-tensor hooks, each storage once
  (``ela_mm.analysis.memory.saved_bytes``; deterministic), as a ratio to the plain model;
* training-step peak memory (``ela_mm.analysis.timing.peak_bytes``), as a ratio to the plain model;
* the train-step time of lean over not lean, as the median of per-round ratios over interleaved
  rounds (the cost of rebuilding the attention's input in backward).

Targets: ResNet-50 + ELA-B kept bytes / ResNet-50 <= 1.05; lean train step <= 1.05 x not lean.
"""

import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the families measured by default (names of ela_mm.comparison.catalogue.FAMILIES)
DEFAULT_FAMILIES = ['resnet50', 'yolox', 'deeplabv3']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--families',
        nargs='+',
        default=DEFAULT_FAMILIES,
        help='families of ela_mm.comparison.catalogue.FAMILIES (default: %(default)s)',
    )
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--train-batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    return parser, parser.parse_args(argv)


def set_lean(model, lean: bool) -> int:
    """Switch every attention module of ``model``; returns how many there are."""
    from ela_mm.models.attention import CBAM, ECA, ELA, SE, CoordAtt

    mods = [m for m in model.modules() if isinstance(m, (ELA, CoordAtt, SE, ECA, CBAM))]
    for m in mods:
        m.lean = lean
    return len(mods)


def measure(family: str, device: str, batch: int, repeats: int):
    from ela_mm.analysis.memory import saved_bytes
    from ela_mm.analysis.synthetic import num_classes, synthetic_batch, train_step_fn
    from ela_mm.analysis.timing import interleaved_samples, paired_ratio, peak_bytes
    from ela_mm.comparison.catalogue import comparison_rows, family_named
    from ela_mm.utils.config import build_model, input_size, load_config

    fam = family_named(family)
    rows, steps = [], {}
    for entry in comparison_rows(ROOT, fam.baseline):
        cfg = load_config(entry['path'])
        hw = fam.size or input_size(cfg)
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


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import torch

    from ela_mm.analysis.report import report
    from ela_mm.comparison.catalogue import FAMILIES

    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        parser.error(f'--families {" ".join(unknown)}: choose from {", ".join(FAMILIES)}')
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
