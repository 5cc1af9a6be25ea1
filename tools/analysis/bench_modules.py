"""Benchmark the attention modules themselves: time and memory ratios measured in ONE run.

    python tools/analysis/bench_modules.py [--device cpu|cuda] [--repeats 25] \
        [--write docs/benchmarks.md]

Prints, per shape, interleaved measurements: ``--repeats`` rounds, each running every candidate
in turn (a candidate shorter than 20 ms runs several times in a row and counts the mean), and
each ratio is the median over rounds of that round's ratio, so that machine noise hits both
terms alike. On CPU, glibc is told to keep freed memory (``keep_freed_memory``) so that no
candidate pays page faults the other does not:

* ELA-B forward (inference) time / memory floor, the floor being the two strip means plus one
  elementwise pass over x (``x * 0.5``), i.e. the least any strip-attention module must touch x.
  Target <= 1.3.
* ELA-B forward+backward / CoordAtt forward+backward, both through their fastest path (fused
  pooling and gating). Target <= 1.0.
* Peak memory of a training step (forward + backward) of 8 stacked ELA-B, fused / naive: the
  bytes held by tensors (CPU: replayed from the profiler's allocation record, exact). Target
  <= 0.6.

Ratios, not absolute times, are the result: they are what stays comparable across machines.
"""

import argparse
import statistics
import sys
from typing import Callable, Dict, List


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=25)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    return parser, parser.parse_args(argv)


SHAPES = [(8, 64, 112, 112), (8, 256, 56, 56), (8, 512, 28, 28)]


def train_step(model, x, grad) -> Callable[[], None]:
    """Forward and backward with a dense upstream gradient, as inside a network."""

    def step():
        model(x).backward(grad)
        x.grad = None
        for p in model.parameters():
            p.grad = None

    return step


def calls_for(fn: Callable[[], None], device: str, seconds: float = 0.02) -> int:
    """How many calls of ``fn`` in a row last about ``seconds``: a short kernel is timed over
    several calls, which evens out the timer's and the scheduler's jitter."""
    from ela_mm.analysis.timing import timer

    run = timer(device)
    run(fn)
    return max(1, round(seconds / max(run(fn), 1e-6)))


def repeated(fn: Callable[[], None], calls: int) -> Callable[[], None]:
    def run():
        for _ in range(calls):
            fn()

    return run


def compare(cands: Dict[str, Callable[[], None]], device: str, repeats: int) -> tuple:
    """(median seconds per call of each candidate, paired ratio first / second)."""
    from ela_mm.analysis.timing import interleaved_samples, paired_ratio

    calls = {k: calls_for(fn, device) for k, fn in cands.items()}
    t = interleaved_samples({k: repeated(fn, calls[k]) for k, fn in cands.items()}, device, repeats)
    t = {k: [s / calls[k] for s in v] for k, v in t.items()}
    a, b = t.values()
    return {k: statistics.median(v) for k, v in t.items()}, paired_ratio(a, b)


def measure(device: str, repeats: int) -> List[dict]:
    import torch
    import torch.nn as nn

    from ela_mm import ELA, CoordAtt
    from ela_mm.analysis.timing import peak_bytes

    rows = []
    for shape in SHAPES:
        n, c, h, w = shape
        torch.manual_seed(0)
        x = torch.randn(shape, device=device)
        ela = ELA(c, 'B').to(device).eval()
        half = torch.tensor(0.5, device=device)

        def floor():
            x.mean(3), x.mean(2), x * half

        with torch.no_grad():
            t, r = compare({'ela': lambda: ela(x), 'floor': floor}, device, repeats)
        rows.append(
            dict(
                shape=shape,
                metric='ELA-B forward / memory floor',
                value=r,
                target=1.3,
                detail=f'{t["ela"] * 1e3:.2f} ms / {t["floor"] * 1e3:.2f} ms',
            )
        )

        xg, g = x.clone().requires_grad_(), torch.randn_like(x)
        ela_t, ca_t = ELA(c, 'B').to(device).train(), CoordAtt(c).to(device).train()
        t, r = compare(
            {'ela': train_step(ela_t, xg, g), 'ca': train_step(ca_t, xg, g)}, device, repeats
        )
        rows.append(
            dict(
                shape=shape,
                metric='ELA-B fwd+bwd / CoordAtt fwd+bwd',
                value=r,
                target=1.0,
                detail=f'{t["ela"] * 1e3:.2f} ms / {t["ca"] * 1e3:.2f} ms',
            )
        )
    for shape in SHAPES:
        c = shape[1]
        xg = torch.randn(shape, device=device, requires_grad=True)
        g = torch.randn_like(xg)
        fused = nn.Sequential(*[ELA(c, 'B') for _ in range(8)]).to(device).train()
        naive = nn.Sequential(*[ELA(c, 'B', fused=False) for _ in range(8)]).to(device).train()
        m_f = peak_bytes(train_step(fused, xg, g), device)
        m_n = peak_bytes(train_step(naive, xg, g), device)
        rows.append(
            dict(
                shape=shape,
                metric='8x ELA-B train-step peak memory, fused / naive',
                value=m_f / m_n,
                target=0.6,
                detail=f'{m_f / 2**20:.0f} MiB / {m_n / 2**20:.0f} MiB',
            )
        )
    return rows


def table(rows: List[dict]) -> str:
    out = ['| shape (N, C, H, W) | ratio | measured | target | met |', '|---|---|---|---|---|']
    for r in rows:
        met = 'yes' if r['value'] <= r['target'] else '**no**'
        out.append(
            f'| {tuple(r["shape"])} | {r["metric"]}: **{r["value"]:.2f}** | '
            f'{r["detail"]} | <= {r["target"]} | {met} |'
        )
    return '\n'.join(out)


def main(argv=None) -> int:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import torch

    from ela_mm.analysis.report import machine, report
    from ela_mm.analysis.timing import keep_freed_memory
    from ela_mm.ops import kernels_in_use

    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    if args.device == 'cpu':
        keep_freed_memory()
    print(f'{kernels_in_use()}; device: {machine(args.device)}', flush=True)
    rows = measure(args.device, args.repeats)
    text = table(rows)
    print(text)
    if args.write:
        report(
            args.write,
            f'bench_modules:{args.device}',
            f'ELA-B and CA modules ({args.device})',
            args.device,
            args.repeats,
            text,
        )
        print(f'written to {args.write}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
