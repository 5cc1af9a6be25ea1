"""Measuring helpers shared by the benchmark tools (tools/analysis/): interleaved timing,
peak memory, FLOP counting that does not leave attention at zero, synthetic batches."""
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import elementwise_flop_counter

# ------------------------------------------------------------------ timing and memory


def timer(device: str) -> Callable[[Callable[[], None]], float]:
    """Seconds one call of ``fn`` takes: CUDA events on GPU, perf_counter on CPU."""
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


def interleaved_samples(cands: Dict[str, Callable[[], None]], device: str, repeats: int,
                        warmup: int = 3) -> Dict[str, List[float]]:
    """Seconds per call of every candidate in each of ``repeats`` rounds; every round runs every
    candidate once, in turn, so that machine noise hits all of them alike."""
    run = timer(device)
    for _ in range(warmup):
        for fn in cands.values():
            run(fn)
    times: Dict[str, List[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for k, fn in cands.items():
            times[k].append(run(fn))
    return times


def interleaved(cands: Dict[str, Callable[[], None]], device: str, repeats: int,
                warmup: int = 3) -> Dict[str, float]:
    """Median seconds per candidate over interleaved rounds (:func:`interleaved_samples`)."""
    return {k: statistics.median(v)
            for k, v in interleaved_samples(cands, device, repeats, warmup).items()}


def paired_ratio(num: List[float], den: List[float]) -> float:
    """Median over rounds of the per-round ratio ``num[i] / den[i]``: a slow spell of the
    machine that hits one round hits both of its terms, and the median drops the rest."""
    return statistics.median(a / b for a, b in zip(num, den))


def keep_freed_memory() -> None:
    """Have glibc keep freed blocks of up to 32 MiB in the heap (fixed mmap and trim
    thresholds) instead of returning them to the OS, so that every candidate reuses warm pages
    rather than page-faulting fresh ones, which otherwise happens at random, depending on the
    order of allocations (a steady training loop reuses its memory the same way). No effect
    on :func:`peak_bytes`, which counts tensors; no-op where glibc is absent."""
    try:
        import ctypes
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return
    libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD: glibc's maximum
    libc.mallopt(-1, 2**30)  # M_TRIM_THRESHOLD


def peak_bytes(fn: Callable[[], None], device: str) -> int:
    """Peak bytes held by tensors above the starting level while ``fn`` runs.

    CUDA: the caching allocator's peak. CPU: replayed from the profiler's record of every
    allocation and free of PyTorch's CPU allocator (all tensors, those made inside C++
    extensions included), so the number is exact and repeats from run to run, unlike the
    process's resident set, which moves with the heap's own bookkeeping."""
    if device == 'cuda':
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == '[memory]')
    level = peak = 0
    for _, nbytes in events:  # nbytes: + allocation, - free
        level += nbytes
        peak = max(peak, level)
    return peak


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


def write_section(path: str, key: str, text: str) -> None:
    """Put ``text`` into the Markdown file between ``<!-- key:start -->`` and
    ``<!-- key:end -->`` (appended the first time), leaving the rest of the file alone."""
    start, end = f'<!-- {key}:start -->', f'<!-- {key}:end -->'
    old = open(path).read() if os.path.exists(path) else '# Benchmarks\n'
    block = f'{start}\n{text}\n{end}'
    if start in old and end in old:
        new = old[:old.index(start)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip('\n') + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(new)


def report(path: str, key: str, title: str, device: str, repeats: int, text: str) -> None:
    """Write a result table into ``path`` under ``title``, with the command line that produced
    it, the machine, torch version and date."""
    import sys
    from datetime import date
    cmd = 'python ' + ' '.join(sys.argv)
    write_section(path, key, (
        f'### {title}\n\nMeasured {date.today()} on {machine(device)}, torch '
        f'{torch.__version__}, {repeats} interleaved rounds (times: medians; ratios: medians '
        f'of the per-round ratios), by\n\n```\n{cmd}\n```'
        f'\n\n{text}'))


# ------------------------------------------------------------------ FLOPs

#: ops mmengine's counter leaves at zero, counted here at one operation per element: the
#: reductions by their input size, elementwise ops and activations by their output size
ELEMENTWISE_OPS = {
    **{op: elementwise_flop_counter(1, 0) for op in (
        'aten::mean', 'aten::amax', 'aten::max', 'aten::sum')},
    **{op: elementwise_flop_counter(0, 1) for op in (
        'aten::sigmoid', 'aten::hardsigmoid', 'aten::hardswish', 'aten::hardswish_',
        'aten::relu', 'aten::relu_', 'aten::relu6', 'aten::hardtanh', 'aten::hardtanh_',
        'aten::silu', 'aten::silu_', 'aten::mul', 'aten::mul_', 'aten::add', 'aten::add_',
        'aten::sub', 'aten::div', 'aten::exp')},
}


def count_flops(model: nn.Module, inputs: Tuple) -> Dict[str, int]:
    """``macs``: what mmengine's FlopAnalyzer counts (one per multiply-accumulate in conv,
    linear and matmul; 4-5 per element in normalisation layers). ``elementwise``: one per
    element for the reductions, activations and elementwise arithmetic it leaves at zero
    (strip and global means, sigmoid, the gating multiplications, residual additions).
    ``total``: their sum."""
    macs = FlopAnalyzer(model, inputs).unsupported_ops_warnings(False)
    macs.uncalled_modules_warnings(False)
    every = FlopAnalyzer(model, inputs).set_op_handle(**ELEMENTWISE_OPS)
    every.unsupported_ops_warnings(False)
    every.uncalled_modules_warnings(False)
    m, t = int(macs.total()), int(every.total())
    return dict(macs=m, elementwise=t - m, total=t)


# ------------------------------------------------------------------ synthetic batches

def synthetic_batch(scope: str, batch: int, hw: Tuple[int, int], num_classes: int,
                    device: str = 'cpu', seed: int = 0):
    """(inputs, data_samples) that ``model(inputs, data_samples, mode='loss')`` accepts, with a
    few random boxes / a random mask / a random label per image; no dataset needed."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    inputs = torch.rand(batch, 3, h, w, generator=g).to(device) * 255
    samples = []
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0))
    for _ in range(batch):
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData
            xy = torch.rand(3, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
            wh = (torch.rand(3, 2, generator=g) * 0.3 + 0.1) * torch.tensor([w, h])
            s = DetDataSample(metainfo=meta)
            s.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1).to(device),
                labels=torch.randint(0, num_classes, (3, ), generator=g).to(device))
        elif scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            s = SegDataSample(metainfo=meta)
            s.gt_sem_seg = PixelData(
                data=torch.randint(0, num_classes, (1, h, w), generator=g).to(device))
        elif scope == 'mmpretrain':
            from mmpretrain.structures import DataSample
            s = DataSample(metainfo=meta).set_gt_label(
                int(torch.randint(0, num_classes, (1, ), generator=g)))
        else:
            raise ValueError(f'no synthetic batch for scope {scope!r}')
        samples.append(s)
    return inputs, samples


def num_classes(cfg) -> int:
    for key in ('bbox_head', 'decode_head', 'head'):
        head = cfg.model.get(key)
        if head and 'num_classes' in head:
            return int(head['num_classes'])
    raise ValueError('cannot tell the number of classes from the config')


def inference_fn(model: nn.Module, inputs: torch.Tensor) -> Callable[[], None]:
    """One no-grad forward in eval mode (``mode='tensor'``: network only, no post-processing)."""
    def run():
        model.eval()
        with torch.no_grad():
            model(inputs, mode='tensor')
    return run


def train_step_fn(model: nn.Module, inputs: torch.Tensor, samples) -> Callable[[], None]:
    """One training step's forward and backward (the loss the model's head defines)."""
    def run():
        model.train()
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
        loss.backward()
        for p in model.parameters():
            p.grad = None
    return run
