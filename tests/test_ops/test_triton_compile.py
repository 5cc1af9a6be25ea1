"""The Triton kernels compiled for real GPUs, on a machine without one.

test_triton_kernels.py proves the kernels' maths in Triton's interpreter, which runs the
kernel code as NumPy and so accepts code the GPU compiler rejects (a loop-carried value that
changes dtype, for one). Here every launch that the wrappers of :mod:`ela_mm.ops.triton` make
for a set of inputs (:data:`CASES`: every dtype and layout, odd sizes, rows wider than a tile,
many channels on small planes, 64-bit offsets) is recorded instead of run, specialised as
Triton's launcher specialises a real launch (dtypes, strides equal to 1, 16-byte alignment, the
constexpr block sizes), and compiled by Triton's CUDA backend down to a cubin (ptxas) for sm_80
(A100) and sm_90 (H100, H200). No GPU or driver is needed. test_cuda.py then runs the kernels
on a GPU.
"""

import os
import os.path as osp
import shutil

import pytest
import torch
from test_triton_kernels import DTYPES, HAS_TRITON, LAYOUTS

LAUNCHER = None  # why the launch cannot be specialised here, or None
if HAS_TRITON and os.environ.get('TRITON_INTERPRET') != '1':
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend

    try:  # how triton 3.x's JITFunction.run specialises a launch
        from triton.runtime.jit import JITFunction, create_function_from_signature
    except ImportError as e:
        LAUNCHER = f'triton {triton.__version__} specialises launches otherwise ({e})'


def _ptxas() -> bool:
    try:
        from triton.backends.nvidia.compiler import get_ptxas

        return osp.exists(get_ptxas().path)
    except Exception:  # noqa: BLE001 (no CUDA backend in this triton)
        return shutil.which('ptxas') is not None


pytestmark = [
    pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed'),
    pytest.mark.skipif(
        os.environ.get('TRITON_INTERPRET') == '1',
        reason='TRITON_INTERPRET=1: triton.jit gives interpreted functions, nothing to compile',
    ),
]

ARCHS = {'sm_80': 80, 'sm_90': 90}


#: every dtype and layout at odd sizes; float16 with rows wider than a tile and with many
#: channels on small planes (each case is a few distinct kernels, about 0.2 s each to compile)
CASES = [((2, 3, 5, 7), dtype, layout) for dtype in DTYPES for layout in LAYOUTS] + [
    (shape, torch.float16, layout)
    for shape in ((1, 4, 250, 251), (64, 512, 7, 7))
    for layout in LAYOUTS
]


def empty_input(shape, dtype, layout):
    """Uninitialised (N, C, H, W) tensor with the strides of test_triton_kernels.make_input."""
    n, c, h, w = shape
    if layout == 'view':
        return torch.empty(n, c, w + 2, h + 1, dtype=dtype).transpose(2, 3)[:, :, 1:, 2:]
    t = torch.empty(shape, dtype=dtype)
    return t.to(memory_format=torch.channels_last) if layout == 'channels_last' else t


class Recorder:
    """Stands for a ``@triton.jit`` kernel: ``kernel[grid](*args, **constexprs)`` is recorded."""

    def __init__(self, fn, calls):
        self.fn, self.calls = fn, calls

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.calls.append((self.fn, args, kwargs))


def record(family, monkeypatch):
    """Every kernel launch of ``family``'s wrappers over the shapes, dtypes and layouts (and,
    for the channel gate, a float32 gate on a half-precision input, as under autocast)."""
    from ela_mm.ops.triton import channel_gate as cg
    from ela_mm.ops.triton import strip_attention as sa

    mod, names = (sa, ['_strip_sum', '_strip_gate']) if family == 'strip' else (
        cg, ['_channel_sum', '_channel_scale'])  # fmt: skip
    calls = []
    for name in names:
        assert isinstance(getattr(mod, name), JITFunction), name
        monkeypatch.setattr(mod, name, Recorder(getattr(mod, name), calls))
    for shape, dtype, layout in CASES:
        n, c, h, w = shape
        x = empty_input(shape, dtype, layout)
        if family == 'strip':
            a_h, a_w = torch.empty(n, c, h, dtype=dtype), torch.empty(n, c, w, dtype=dtype)
            sa.strip_pool(x)
            sa.strip_gate(x, a_h, a_w)
            sa.strip_gate(x, a_h, a_w, a_h, a_w)
            sa.strip_grads(x, x, a_h, a_w)
            continue
        cg.channel_mean(x)
        cg.channel_dot(x, x)
        for a_dtype in {dtype, torch.promote_types(dtype, torch.float32)}:
            a = torch.empty(n, c, 1, 1, dtype=a_dtype)
            cg.channel_scale(x, a, dtype=torch.promote_types(dtype, a_dtype))
            cg.channel_scale(x, a, a, dtype=dtype)
    # an input of over 2**31 elements: its sample stride does not fit in int32 (64-bit offsets)
    fn, args, kwargs = calls[0]
    big = list(args)
    big[fn.arg_names.index('sxn')] = 2**31 + 16
    calls.append((fn, tuple(big), kwargs))
    return calls


@pytest.mark.skipif(bool(LAUNCHER), reason=str(LAUNCHER))
@pytest.mark.skipif(HAS_TRITON and not _ptxas(), reason="triton's CUDA backend has no ptxas")
@pytest.mark.parametrize('arch', list(ARCHS))
@pytest.mark.parametrize('family', ['strip', 'channel'])
def test_kernels_compile_for_the_gpu(family, arch, monkeypatch, tmp_path):
    monkeypatch.setenv('TRITON_CACHE_DIR', str(tmp_path))  # compiled here, not from a cache
    target = GPUTarget('cuda', ARCHS[arch], 32)
    backend = make_backend(target)
    calls = record(family, monkeypatch)
    jobs = {}
    for fn, args, kwargs in calls:  # as JITFunction.run specialises a launch
        binder = create_function_from_signature(fn.signature, fn.params, backend)
        bound, specialization, options = binder(*args, **kwargs)
        options, signature, constexprs, attrs = fn._pack_args(
            backend, kwargs, bound, specialization, options
        )
        key = (fn.__name__, str(signature), str(constexprs), str(attrs))
        jobs.setdefault(key, (fn, signature, constexprs, attrs, options))
    # a Python float reaches a kernel as float32, whatever the kernel computes in: a float64
    # mean scaled by float32(1/7) is off by 4e-8, so the kernels take no float arguments
    floats = {(k[0], n) for k in jobs for n, t in jobs[k][1].items() if t in ('fp32', 'fp64')}
    assert not floats, floats
    names = {key[0] for key in jobs}
    assert len(names) == 2 and any("'sxn': 'i64'" in key[1] for key in jobs), names
    for fn, signature, constexprs, attrs, options in jobs.values():
        kernel = triton.compile(
            ASTSource(fn, signature, constexprs, attrs), target=target, options=options.__dict__
        )
        assert kernel.metadata.target.arch == ARCHS[arch] and kernel.asm['cubin'], fn.__name__
    print(f'{family}, {arch}: {len(calls)} launches, {len(jobs)} distinct kernels compiled')
