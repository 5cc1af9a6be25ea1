"""The CUDA branches: fused autograd functions on CUDA against the reference, autocast
float16/bfloat16, the compiled path, the memory-lean path after cuDNN's BatchNorm, the Triton
kernels (ELA_MM_TRITON=1) compiled for the GPU. Skipped, with the reason, on a machine without a
CUDA GPU."""

import os

import pytest
import torch
import torch.nn as nn

from ela_mm.analysis.memory import saved_bytes
from ela_mm.models.attention import CBAM, ECA, ELA, SE, CoordAtt
from ela_mm.ops import rebuild_source

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='no CUDA GPU here: the CUDA paths are not exercised'
)
MODULES = {  # every module with an autograd function of its own (strip, channel-gate, CBAM)
    'ELA-T': lambda: ELA(64, 'T'),
    'ELA-B': lambda: ELA(64, 'B'),
    'CA': lambda: CoordAtt(64),
    'SE': lambda: SE(64),
    'ECA': lambda: ECA(64),
    'CBAM': lambda: CBAM(64),
}


@pytest.mark.parametrize('name', list(MODULES))
def test_fused_cuda_equals_reference(name, randomise):
    m = randomise(MODULES[name]()).cuda().train()
    x = torch.randn(2, 64, 24, 20, device='cuda', requires_grad=True)
    xr = x.detach().clone().requires_grad_()
    w = torch.randn(2, 64, 24, 20, device='cuda')
    (m(x) * w).sum().backward()
    gp = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    (m.forward_reference(xr) * w).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-4, atol=1e-5)
    for a, p in zip(gp, m.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('name', list(MODULES))
def test_autocast_cuda(name, dtype, randomise):
    m = randomise(MODULES[name]()).cuda().train()
    x = torch.randn(2, 64, 24, 20, device='cuda')
    ref = m.forward_reference(x).float()
    with torch.autocast('cuda', dtype=dtype):
        xh = x.to(dtype).requires_grad_()
        y = m(xh)
    assert y.dtype == dtype
    tol = 2e-2 if dtype is torch.float16 else 6e-2
    torch.testing.assert_close(y.float(), ref, rtol=tol, atol=tol)
    y.float().sum().backward()
    assert torch.isfinite(xh.grad).all()


@pytest.mark.parametrize('name', ['ELA-B', 'CA'])
def test_compiled_cuda_equals_eager(name, randomise, monkeypatch):
    # full float32 on both sides: eager cuDNN convolutions may use TF32, compiled ones may not
    monkeypatch.setattr(torch.backends.cudnn, 'allow_tf32', False)
    monkeypatch.setattr(torch.backends.cuda.matmul, 'allow_tf32', False)
    eager = randomise(MODULES[name]()).cuda().train()
    comp = torch.compile(randomise(MODULES[name]()).cuda().train(), dynamic=True)
    for size in [(2, 64, 24, 20), (2, 64, 17, 31)]:
        x = torch.randn(*size, device='cuda')
        xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
        torch.testing.assert_close(comp(xc), eager(xe), rtol=1e-4, atol=1e-4)
        eager(xe).sum().backward()
        comp(xc).sum().backward()
        torch.testing.assert_close(xc.grad, xe.grad, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize('make', [lambda: ELA(64, 'B'), lambda: SE(64), lambda: CBAM(64)])
def test_lean_after_cudnn_batch_norm(make, randomise):
    bn = nn.BatchNorm2d(64).cuda()
    z = torch.randn(2, 64, 32, 32, device='cuda', requires_grad=True)
    assert rebuild_source(bn(z)) is not None  # cuDNN's BatchNorm node is recognised
    att = randomise(make()).cuda()

    def kept(lean):
        att.lean = lean
        return saved_bytes(lambda: att(bn(z)))['bytes'] - saved_bytes(lambda: bn(z))['bytes']

    assert kept(True) < 2 * 64 * 32 * 32 * 4 / 4 <= kept(False)
    grads = []
    for lean in (True, False):
        att.lean = lean
        z.grad = None
        att(bn(z)).sum().backward()
        grads.append(z.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


# --- the Triton kernels (ela_mm.ops.triton, ELA_MM_TRITON=1) compiled for the GPU: the cases
# test_triton_kernels.py runs in the interpreter, at the sizes a network has as well
from test_triton_kernels import (  # noqa: E402 (same folder; pytest puts it on sys.path)
    DTYPES,
    HAS_TRITON,
    LAYOUTS,
    check_autocast,
    check_channel_ops,
    check_module,
    check_strip_ops,
)
from test_triton_kernels import MODULES as TRITON_MODULES  # noqa: E402

compiled_triton = pytest.mark.skipif(
    not HAS_TRITON or os.environ.get('TRITON_INTERPRET') == '1',
    reason='triton is not installed'
    if not HAS_TRITON
    else 'TRITON_INTERPRET=1: the kernels would be interpreted, not compiled',
)
TRITON_SHAPES = [(2, 3, 5, 7), (4, 96, 33, 65), (2, 8, 7, 300), (1, 4, 250, 251), (64, 512, 7, 7)]


@pytest.fixture
def triton_on(monkeypatch):
    monkeypatch.setenv('ELA_MM_TRITON', '1')


@compiled_triton
@pytest.mark.parametrize('shape', TRITON_SHAPES, ids=str)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_triton_kernels_cuda(dtype, layout, shape, triton_on):
    check_strip_ops(dtype, layout, 'cuda', shape)
    check_channel_ops(dtype, layout, 'cuda', shape)


@compiled_triton
@pytest.mark.parametrize('shape', [(2, 32, 24, 20), (3, 64, 17, 31)], ids=str)
@pytest.mark.parametrize('layout', LAYOUTS)
@pytest.mark.parametrize('name', list(TRITON_MODULES))
def test_triton_modules_cuda(name, layout, shape, randomise, triton_on):
    check_module(name, layout, randomise, 'cuda', shape)


@compiled_triton
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize('name', list(TRITON_MODULES))
def test_triton_autocast_cuda(name, dtype, randomise, triton_on):
    check_autocast(name, dtype, randomise, 'cuda', (2, 64, 24, 20))
