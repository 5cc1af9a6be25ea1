"""Benchmark the attention modules themselves: time and memory ratios measured in ONE run.

    python tools/analysis/bench_attention.py [--device cpu|cuda] [--repeats 15] \
        [--write docs/benchmarks.md]

Prints, per shape, interleaved measurements (median of ``--repeats`` rounds, each round running
every candidate once in turn so that machine noise hits all of them alike):

* ELA-B forward (inference) time / memory floor, the floor being the two strip means plus one
  elementwise pass over x (``x * 0.5``), i.e. the least any strip-attention module must touch x.
  Target <= 1.3.
* ELA-B forward+backward / CoordAtt forward+backward, both through their fastest path (fused
  pooling and gating). Target <= 1.0.
* Peak memory of a training step (forward + backward) of 8 stacked ELA-B, fused / naive.
  Target <= 0.6.

Ratios, not absolute times, are the result: they are what stays comparable across machines.
"""
import argparse
import os
import platform
import statistics
import sys
import time
from datetime import date
from typing import Callable, Dict, List

import torch
import torch.nn as nn

from ela_mm import ELA, CoordAtt
from ela_mm.ops import has_fused_kernels

SHAPES = [(8, 64, 112, 112), (8, 256, 56, 56), (8, 512, 28, 28)]
START, END = '<!-- bench_attention:start -->', '<!-- bench_attention:end -->'


def timer(device: str) -> Callable[[Callable[[], None]], float]:
    if device == 'cuda':
        def run(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 1e3
    else:
        def run(fn):
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t
    return run


def interleaved(cands: Dict[str, Callable[[], None]], device: str, repeats: int,
                warmup: int = 3) -> Dict[str, float]:
    """Median seconds per candidate; every round runs every candidate once, in turn."""
    run = timer(device)
    for _ in range(warmup):
        for fn in cands.values():
            run(fn)
    times: Dict[str, List[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for k, fn in cands.items():
            times[k].append(run(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def peak_bytes(fn: Callable[[], None], device: str) -> int:
    """Peak bytes allocated above the starting level while ``fn`` runs (CUDA: the caching
    allocator's peak; CPU: the process's peak resident memory, Linux only)."""
    if device == 'cuda':
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    # CPU: the kernel's resident-set high-water mark, reset just before the step
    open('/proc/self/clear_refs', 'w').write('5')
    base = _status_kib('VmRSS')
    fn()
    return (_status_kib('VmHWM') - base) * 1024


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ':'))


def train_step(model: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    """Forward and backward with a dense upstream gradient, as inside a network."""
    def step():
        model(x).backward(grad)
        x.grad = None
        for p in model.parameters():
            p.grad = None
    return step


def measure(device: str, repeats: int) -> List[dict]:
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
            t = interleaved({'ela': lambda: ela(x), 'floor': floor}, device, repeats)
        rows.append(dict(shape=shape, metric='ELA-B forward / memory floor', value=t['ela'] /
                         t['floor'], target=1.3, detail=f"{t['ela'] * 1e3:.2f} ms / "
                         f"{t['floor'] * 1e3:.2f} ms"))

        xg, g = x.clone().requires_grad_(), torch.randn_like(x)
        ela_t, ca_t = ELA(c, 'B').to(device).train(), CoordAtt(c).to(device).train()
        t = interleaved({'ela': train_step(ela_t, xg, g), 'ca': train_step(ca_t, xg, g)},
                        device, repeats)
        rows.append(dict(shape=shape, metric='ELA-B fwd+bwd / CoordAtt fwd+bwd',
                         value=t['ela'] / t['ca'], target=1.0,
                         detail=f"{t['ela'] * 1e3:.2f} ms / {t['ca'] * 1e3:.2f} ms"))
    if device == 'cpu':  # after the timings: this makes every large allocation page-fault
        _malloc_returns_large_blocks()
    for shape in SHAPES:
        c = shape[1]
        xg = torch.randn(shape, device=device, requires_grad=True)
        g = torch.randn_like(xg)
        fused = nn.Sequential(*[ELA(c, 'B') for _ in range(8)]).to(device).train()
        naive = nn.Sequential(*[ELA(c, 'B', fused=False) for _ in range(8)]).to(device).train()
        m_f = peak_bytes(train_step(fused, xg, g), device)
        m_n = peak_bytes(train_step(naive, xg, g), device)
        rows.append(dict(shape=shape, metric='8x ELA-B train-step peak memory, fused / naive',
                         value=m_f / m_n, target=0.6,
                         detail=f'{m_f / 2**20:.0f} MiB / {m_n / 2**20:.0f} MiB'))
    return rows


def machine(device: str) -> str:
    if device == 'cuda':
        return f'{torch.cuda.get_device_name()} (CUDA {torch.version.cuda})'
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if 'model name' in line)
    except (OSError, StopIteration):
        pass
    return f'{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads'


def table(rows: List[dict]) -> str:
    out = ['| shape (N, C, H, W) | ratio | measured | target | met |', '|---|---|---|---|---|']
    for r in rows:
        met = 'yes' if r['value'] <= r['target'] else '**no**'
        out.append(f"| {tuple(r['shape'])} | {r['metric']}: **{r['value']:.2f}** | "
                   f"{r['detail']} | <= {r['target']} | {met} |")
    return '\n'.join(out)


def write_section(path: str, text: str) -> None:
    old = open(path).read() if os.path.exists(path) else '# Benchmarks\n'
    block = f'{START}\n{text}\n{END}'
    if START in old and END in old:
        new = old[:old.index(START)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip('\n') + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(new)


def _malloc_returns_large_blocks() -> None:
    """Make glibc serve every block >= 128 KiB with mmap and unmap it on free (a fixed mmap
    threshold), so that the resident set follows allocated memory and the CPU peak above is
    exact to the page."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--write', metavar='MD', help='write the table into this Markdown file')
    args = parser.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available')
    print(f'fused CPU kernels: {"yes" if has_fused_kernels() else "NO (pure PyTorch)"}; '
          f'device: {machine(args.device)}', flush=True)
    rows = measure(args.device, args.repeats)
    text = table(rows)
    print(text)
    if args.write:
        cmd = 'python tools/analysis/bench_attention.py ' + ' '.join(sys.argv[1:])
        write_section(args.write, (
            f'## Attention modules ({args.device})\n\nMeasured {date.today()} on '
            f'{machine(args.device)}, torch {torch.__version__}, median of {args.repeats} '
            f'interleaved rounds, by\n\n```\n{cmd}\n```\n\n{text}'))
        print(f'written to {args.write}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
