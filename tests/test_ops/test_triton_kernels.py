"""The Triton kernels of the CUDA path (ela_mm.ops.triton), proven on CPU tensors in Triton's
interpreter against plain PyTorch: every kernel forward and backward, float16/bfloat16/float32/
float64, odd sizes, channels_last, strided views and expanded gradients, every module routed
through them (and autocast), float64 gradcheck, the fallback where they do not apply.

The interpreter must be switched on (``TRITON_INTERPRET=1``) before triton is first imported
in a process; a pytest worker may already have imported triton without it (torch.compile
tests do), and ``make test`` does not set it. So: with ``TRITON_INTERPRET=1`` in the
environment the cases run here directly; without it, they skip and
:func:`test_kernels_in_the_interpreter` runs this file once in a subprocess with the variable
set, and fails with that run's per-case report unless every case passed. A subprocess rather
than a conftest hook: it isolates the interpreter from the rest of the suite and works the same
under xdist. test_cuda.py runs the ``check_*`` functions on a GPU.
"""

import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from ela_mm.models.attention import ECA, ELA, SE, CoordAtt
from ela_mm.ops import Path, kernels_in_use, strip_attention
from ela_mm.ops import triton as tk

HERE = osp.abspath(__file__)
ROOT = osp.dirname(osp.dirname(osp.dirname(HERE)))
INTERPRET = os.environ.get('TRITON_INTERPRET') == '1'
HAS_TRITON = importlib.util.find_spec('triton') is not None
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
TOL = {  # the kernels compute in float32 and round once; the reference rounds every op
    torch.float64: dict(rtol=1e-10, atol=1e-12),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=2e-2, atol=2e-2),
}
MODULES = {
    'ELA-T': lambda c: ELA(c, 'T'),
    'ELA-B-unshared': lambda c: ELA(c, 'B', shared=False),
    'ELA-S': lambda c: ELA(c, 'S'),
    'CA': CoordAtt,
    'SE': SE,
    'ECA': ECA,
}
LAYOUTS = ['contiguous', 'channels_last', 'view']

interpreted = pytest.mark.skipif(
    not (INTERPRET and HAS_TRITON),
    reason='runs in the TRITON_INTERPRET=1 subprocess of test_kernels_in_the_interpreter'
    if HAS_TRITON
    else 'triton is not installed',
)


def make_input(shape, dtype, layout, device='cpu', seed=0):
    """A (N, C, H, W) tensor in the given layout: contiguous, channels_last, or a strided view
    (a crop of a larger tensor, with H and W swapped in memory)."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    if layout == 'view':
        t = torch.randn(n, c, w + 2, h + 1, generator=g).to(dtype).to(device)
        t = t.transpose(2, 3)[:, :, 1:, 2:]
        assert t.shape == shape and not t.is_contiguous()
        return t
    t = torch.randn(shape, generator=g).to(dtype).to(device)
    return t.to(memory_format=torch.channels_last) if layout == 'channels_last' else t


def sum_tol(dtype, terms: int) -> dict:
    """Tolerance of a sum of ``terms`` products accumulated in float32 (float64 for float64):
    rounding errors grow with the square root of the terms, and a sum that cancels to near
    zero has only the absolute part."""
    if dtype == torch.float64:
        return TOL[torch.float64]
    return dict(rtol=1e-5, atol=2e-6 * max(1, terms) ** 0.5)


def _ran(before, *names):
    for name in names:
        assert tk.launches[name] > before[name], f'the Triton kernel {name} did not run'


def check_strip_ops(dtype, layout, device='cpu', shape=(2, 3, 5, 7)):
    """Every strip kernel against float64 PyTorch on the same values."""
    from ela_mm.ops.triton import strip_attention as strip

    x = make_input(shape, dtype, layout, device)
    g = make_input(shape, dtype, layout, device, seed=1)
    n, c, h, w = shape
    a_h = torch.rand(n, c, h, device=device).to(dtype)
    a_w = torch.rand(n, c, w, device=device).to(dtype)
    b_h, b_w = torch.randn_like(a_h), torch.randn_like(a_w)
    xd, gd, ahd, awd, bhd, bwd = (t.double() for t in (x, g, a_h, a_w, b_h, b_w))
    before = tk.launches.copy()
    z_h, z_w = strip.strip_pool(x)
    assert z_h.dtype == z_w.dtype == dtype
    torch.testing.assert_close(z_h.double(), xd.mean(3), **TOL[dtype])
    torch.testing.assert_close(z_w.double(), xd.mean(2), **TOL[dtype])
    y = strip.strip_gate(x, a_h, a_w)
    assert y.dtype == dtype
    assert layout == 'view' or y.stride() == x.stride()  # x's layout kept
    torch.testing.assert_close(y.double(), xd * ahd[..., None] * awd[:, :, None], **TOL[dtype])
    gi = strip.strip_gate(g, a_h, a_w, b_h, b_w)
    ref = gd * ahd[..., None] * awd[:, :, None] + bhd[..., None] + bwd[:, :, None]
    torch.testing.assert_close(gi.double(), ref, **TOL[dtype])
    g_h, g_w = strip.strip_grads(g, x, a_h, a_w)
    gx = gd * xd
    torch.testing.assert_close(g_h.double(), (gx * awd[:, :, None]).sum(3), **sum_tol(dtype, w))
    torch.testing.assert_close(g_w.double(), (gx * ahd[..., None]).sum(2), **sum_tol(dtype, h))
    _ran(before, 'strip_sum', 'strip_gate')


def check_channel_ops(dtype, layout, device='cpu', shape=(2, 3, 5, 7)):
    """Every channel-gate kernel against float64 PyTorch on the same values."""
    from ela_mm.ops.triton import channel_gate as channel

    x = make_input(shape, dtype, layout, device)
    g = make_input(shape, dtype, layout, device, seed=1)
    a = torch.rand(shape[0], shape[1], 1, 1, device=device).to(dtype)
    b = torch.randn_like(a)
    xd, gd, ad, bd = (t.double() for t in (x, g, a, b))
    before = tk.launches.copy()
    s = channel.channel_mean(x)
    assert s.dtype == dtype and s.shape == a.shape
    torch.testing.assert_close(s.double(), xd.mean((2, 3), keepdim=True), **TOL[dtype])
    torch.testing.assert_close(
        channel.channel_dot(g, x).double(),
        (gd * xd).sum((2, 3), keepdim=True),
        **sum_tol(dtype, shape[2] * shape[3]),
    )
    y = channel.channel_scale(x, a)
    assert y.dtype == dtype
    assert layout == 'view' or y.stride() == x.stride()  # x's layout kept
    torch.testing.assert_close(y.double(), xd * ad, **TOL[dtype])
    torch.testing.assert_close(channel.channel_scale(g, a, b).double(), gd * ad + bd, **TOL[dtype])
    _ran(before, 'channel_sum', 'channel_scale')


def check_module(name, layout, randomise, device='cpu', shape=(2, 32, 7, 9), dtype=None):
    """Forward and backward of a module on the kernels against its ``forward_reference``
    (float64 on CPU, float32 on a GPU), and inference (no graph) too."""
    dtype = dtype or (torch.float64 if device == 'cpu' else torch.float32)
    m = randomise(MODULES[name](shape[1])).to(device, dtype).train()
    x = make_input(shape, dtype, layout, device).requires_grad_()
    xr = x.detach().clone().requires_grad_()
    w = make_input(shape, dtype, 'contiguous', device, seed=2)
    kernel = 'channel_sum' if name in ('SE', 'ECA') else 'strip_sum'
    before = tk.launches.copy()
    y = m(x)
    (y * w).sum().backward()
    grads = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    yr = m.forward_reference(xr)
    (yr * w).sum().backward()
    _ran(before, kernel)
    tol = TOL[dtype] if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(y, yr, **tol)
    torch.testing.assert_close(x.grad, xr.grad, **tol)
    for a, p in zip(grads, m.parameters()):
        torch.testing.assert_close(a, p.grad, **tol)
    before = tk.launches.copy()
    m.eval()
    with torch.no_grad():
        torch.testing.assert_close(m(x), m.forward_reference(x), **tol)
    _ran(before, kernel)


def check_autocast(name, dtype, randomise, device='cpu', shape=(2, 32, 7, 9)):
    """Under autocast with a half-precision input (as after an autocast conv): the output has
    the input's dtype, agrees with the float32 reference, and backward gives finite gradients."""
    m = randomise(MODULES[name](shape[1])).to(device).train()
    x = make_input(shape, torch.float32, 'contiguous', device)
    ref = m.forward_reference(x)
    kernel = 'channel_sum' if name in ('SE', 'ECA') else 'strip_sum'
    before = tk.launches.copy()
    with torch.autocast(device, dtype=dtype):
        xh = x.to(dtype).requires_grad_()
        y = m(xh)
    assert y.dtype == dtype
    tol = 2e-2 if dtype is torch.float16 else 6e-2
    torch.testing.assert_close(y.float(), ref, rtol=tol, atol=tol)
    y.float().sum().backward()
    assert xh.grad.dtype == dtype and torch.isfinite(xh.grad).all()
    _ran(before, kernel)


@pytest.fixture
def triton_on(monkeypatch):
    monkeypatch.setenv('ELA_MM_TRITON', '1')


@interpreted
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_strip_kernels(dtype, layout, triton_on):
    check_strip_ops(dtype, layout)


@interpreted
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_channel_kernels(dtype, layout, triton_on):
    check_channel_ops(dtype, layout)


@interpreted
@pytest.mark.parametrize('shape', [(1, 2, 1, 13), (2, 3, 13, 1), (1, 64, 3, 5), (1, 1, 11, 3)])
def test_kernels_at_edge_shapes(shape, triton_on):
    """Single rows/columns, channel blocks wider than C, rows narrower than a tile."""
    check_strip_ops(torch.float32, 'channels_last', shape=shape)
    check_channel_ops(torch.float32, 'contiguous', shape=shape)


@interpreted
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('name', list(MODULES))
def test_modules_on_the_kernels(name, layout, randomise, triton_on):
    check_module(name, layout, randomise)


@interpreted
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize('name', ['ELA-T', 'CA', 'SE'])
def test_modules_under_autocast(name, dtype, randomise, triton_on):
    check_autocast(name, dtype, randomise)


@interpreted
@pytest.mark.parametrize('name', ['ELA-B-unshared', 'CA', 'SE'])
def test_lean_after_batch_norm_and_silu(name, randomise, triton_on):
    """The memory-lean path (x rebuilt from BatchNorm's and SiLU's saved tensors) on the
    kernels equals the plain composition, and the expanded gradient of ``.sum()`` is taken."""
    torch.manual_seed(0)
    bn, att = nn.BatchNorm2d(16).double(), randomise(MODULES[name](16)).double()
    z = torch.randn(2, 16, 5, 7, dtype=torch.float64, requires_grad=True)
    before = tk.launches.copy()
    att(nn.functional.silu(bn(z))).sum().backward()
    _ran(before, 'channel_sum' if name == 'SE' else 'strip_sum')
    grads = [z.grad.clone()] + [p.grad.clone() for p in att.parameters()]
    z.grad = None
    att.zero_grad()
    att.forward_reference(nn.functional.silu(bn(z))).sum().backward()
    for a, b in zip(grads, [z.grad] + [p.grad for p in att.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@interpreted
@pytest.mark.parametrize('layout', ['contiguous', 'channels_last'])
def test_gradcheck_float64(layout, triton_on):
    """float64 gradcheck of both autograd functions on the kernels (x and parameters)."""
    x = make_input((1, 2, 3, 5), torch.float64, layout).requires_grad_()
    p = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def attend(z_h, z_w):
        mix = z_h.mean(-1, keepdim=True) - z_w.mean(-1, keepdim=True)
        return torch.sigmoid(z_h * p[:, None] + mix), torch.sigmoid(z_w - p[:, None] * mix)

    before = tk.launches.copy()
    assert torch.autograd.gradcheck(lambda x, p: strip_attention(x, attend, [p]), (x, p))
    se = SE(2, reduction=1).double()
    assert torch.autograd.gradcheck(lambda x: se(x), (x,))
    _ran(before, 'strip_sum', 'strip_gate', 'channel_sum', 'channel_scale')


@interpreted
def test_fallback_where_the_kernels_do_not_apply(monkeypatch, randomise):
    """Switch off, or rows wider than the kernels take: no launch, the PyTorch path's result."""
    m = randomise(ELA(32, 'T'))
    x = torch.randn(1, 32, 3, 9)
    for env, max_w in (('0', tk.MAX_W), ('1', 8)):
        monkeypatch.setenv('ELA_MM_TRITON', env)
        monkeypatch.setattr(tk, 'MAX_W', max_w)
        assert not tk.use(x)
        before = tk.launches.copy()
        y = strip_attention(x, m.attend, list(m.parameters()), Path.INFERENCE)
        assert tk.launches == before
        torch.testing.assert_close(y, m.forward_reference(x))
    monkeypatch.setattr(tk, 'MAX_W', 9)
    assert tk.use(x) and not tk.use(x.int()) and not tk.use(x[:, :, :0])


def test_the_switch_and_kernels_line(monkeypatch):
    """Off by default; ``ELA_MM_TRITON=1`` turns the kernels on for CUDA tensors only (CPU
    tensors only under the interpreter); the kernels line says what runs on CUDA."""
    monkeypatch.delenv('ELA_MM_TRITON', raising=False)
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    x = torch.randn(1, 2, 3, 3)
    assert not tk.enabled() and not tk.use(x)
    line = kernels_in_use()
    assert ('CUDA: PyTorch ops (Triton kernels are opt-in' in line) == torch.cuda.is_available()
    monkeypatch.setenv('ELA_MM_TRITON', '1')
    assert tk.enabled() == HAS_TRITON and not tk.use(x)  # a CPU tensor, no interpreter
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    assert tk.use(x) == HAS_TRITON
    line = kernels_in_use()
    assert line.startswith('ela_mm kernels: ')
    assert ('CUDA: Triton kernels (ELA_MM_TRITON=1, triton ' in line) == HAS_TRITON
    monkeypatch.setattr(tk, '_available', False)
    assert not tk.enabled()
    assert 'ELA_MM_TRITON=1, but triton is not installed' in kernels_in_use()


@pytest.mark.skipif(INTERPRET, reason='the interpreter is on here: the cases above ran directly')
@pytest.mark.skipif(not HAS_TRITON, reason='triton is not installed')
def test_kernels_in_the_interpreter():
    """This file's interpreter cases in one subprocess with TRITON_INTERPRET=1."""
    env = dict(os.environ, TRITON_INTERPRET='1', OMP_NUM_THREADS='1')
    env.pop('PYTEST_XDIST_WORKER', None)
    out = subprocess.run(
        [
            sys.executable,
            '-m',
            'pytest',
            '-q',
            '-rfEs',
            '-p',
            'no:cacheprovider',
            '-p',
            'no:warnings',
            HERE,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    report = out.stdout[-6000:] + out.stderr[-2000:]
    assert out.returncode == 0, f'interpreter cases failed:\n{report}'
    counts = dict((k, int(v)) for v, k in re.findall(r'(\d+) (passed|skipped|failed)', report))
    # every interpreter case ran and passed (none skipped but this test itself)
    assert counts.get('passed', 0) >= 55 and counts.get('skipped', 0) == 1, report
    print(report.strip().splitlines()[-1])
