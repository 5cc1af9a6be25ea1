"""ELA and CA through the fused ops: which kernels run on each path, what is saved for
backward, odd shapes and layouts, low precision."""

import pytest
import torch

from ela_mm import CBAM, ECA, ELA, SE, CoordAtt

TRAIN_KERNELS = {'strip_pool', 'gate_forward', 'gate_backward_strips', 'gate_backward_input'}


@pytest.mark.parametrize('variant', ['T', 'B'])
def test_training_step_runs_the_cpp_kernels(variant, ext_calls, randomise):
    """A training forward + backward of ELA-T/B goes through every C++ kernel: pooling, gating,
    both gate backwards and the strip operator's forward and backward (two strips each; the
    strips' forward runs again in backward, which keeps only the two strip means)."""
    m = randomise(ELA(32, variant)).train()
    x = torch.randn(2, 32, 9, 7, requires_grad=True)
    m(x).sum().backward()
    assert {k: ext_calls.get(k) for k in TRAIN_KERNELS} == dict.fromkeys(TRAIN_KERNELS, 1)
    assert ext_calls.get('dwconv_gn_sigmoid_forward') == 4
    assert ext_calls.get('dwconv_gn_sigmoid_backward') == 2
    assert x.grad is not None and m.conv.weight.grad is not None


def test_inference_runs_the_cpp_kernels_without_backward(ext_calls, randomise):
    m = randomise(ELA(32, 'B')).eval()
    with torch.no_grad():
        m(torch.randn(2, 32, 9, 7))
    assert ext_calls == {'strip_pool': 1, 'gate_forward': 1, 'dwconv_gn_sigmoid_forward': 2}


def test_grouped_variant_and_ca_use_the_pooling_kernels(ext_calls, randomise):
    """ELA-S/L (grouped conv) and CA run their small layers in PyTorch, the full-size passes in
    C++."""
    for m in (randomise(ELA(32, 'S')), randomise(CoordAtt(32))):
        m.train()
        m(torch.randn(2, 32, 6, 5, requires_grad=True)).sum().backward()
    assert {k: ext_calls.get(k) for k in TRAIN_KERNELS} == dict.fromkeys(TRAIN_KERNELS, 2)
    assert 'dwconv_gn_sigmoid_forward' not in ext_calls


def test_fused_false_and_tracing_run_no_kernel(ext_calls, randomise):
    m = randomise(ELA(32, 'B', fused=False))
    m(torch.randn(1, 32, 5, 5, requires_grad=True)).sum().backward()
    torch.jit.trace(ELA(32, 'B').eval(), torch.randn(1, 32, 5, 5), check_trace=False)
    assert ext_calls == {}


@pytest.mark.parametrize('cls', [ELA, CoordAtt])
def test_fused_path_saves_one_full_size_tensor(cls):
    """The fused autograd node keeps x (and small strips), not x * a_h or other full-size
    intermediates; the plain expression keeps several."""
    x = torch.randn(2, 32, 16, 16, requires_grad=True)
    full = x.numel()

    def saved_full(module):
        saved = []

        def pack(t):
            saved.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x)
        return sum(n for n in saved if n >= full)

    assert saved_full(cls(32)) == full
    assert saved_full(cls(32, fused=False)) >= 2 * full


@pytest.mark.parametrize(
    'make',
    [
        lambda: torch.randn(2, 32, 1, 7),
        lambda: torch.randn(2, 32, 7, 1),
        lambda: torch.randn(1, 32, 1, 1),
        lambda: torch.randn(2, 32, 5, 11),
        lambda: torch.randn(2, 11, 32, 5).permute(0, 2, 3, 1),  # non-contiguous
        lambda: torch.randn(2, 32, 6, 10).to(memory_format=torch.channels_last),
    ],
)
@pytest.mark.parametrize('cls', [ELA, CoordAtt])
def test_odd_shapes_and_layouts(make, cls, randomise):
    x = make()
    m = randomise(cls(32) if cls is CoordAtt else cls(32, 'B'))
    ref = randomise(cls(32, fused=False) if cls is CoordAtt else cls(32, 'B', fused=False))
    m.eval(), ref.eval()
    out = m(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-6)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        assert out.is_contiguous(memory_format=torch.channels_last)
    xg, xr = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
    g = torch.randn_like(out)
    m.train(), ref.train()
    m(xg).backward(g)
    ref(xr).backward(g)
    torch.testing.assert_close(xg.grad, xr.grad, rtol=1e-4, atol=1e-5)


def test_batch_one_train_mode_backward():
    for m in (ELA(32, 'T'), CoordAtt(32), SE(32), ECA(32), CBAM(32)):
        m.train()
        x = torch.randn(1, 32, 6, 6, requires_grad=True)
        m(x).sum().backward()
        assert torch.isfinite(x.grad).all()


# The low dtype's own rounding, relative to the largest value (|y| up to ~4): bf16 eps 2^-7,
# fp16 eps 2^-10. Measured on one CPU (5 seeds, 2026-11-22): bf16 output 0.017, input grad 0.023;
# fp16 0.0023 / 0.0026, i.e. about 0.5-0.7 eps x max. The bound is 4 eps x max, independent of
# which kernels (native bf16 / AMX or emulated) the CPU runs; a wrong gate errs by > 0.1.
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('variant', ['S', 'B'])
def test_autocast_low_precision(dtype, variant, randomise):
    """Under CPU autocast the output keeps the input's dtype and stays within the rounding of
    that dtype, forward and backward, of the float32 module."""
    m = randomise(ELA(64, variant))
    torch.manual_seed(0)
    x = torch.randn(2, 64, 14, 10)
    g = torch.randn_like(x)
    x32 = x.clone().requires_grad_()
    out32 = m(x32)
    out32.backward(g)
    x16 = x.to(dtype).requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        out = m(x16)
    assert out.dtype == dtype
    out.backward(g.to(dtype))
    assert x16.grad.dtype == dtype
    eps = torch.finfo(dtype).eps
    assert (out.float() - out32).abs().max() <= 4 * eps * out32.abs().max()
    assert (x16.grad.float() - x32.grad).abs().max() <= 4 * eps * x32.grad.abs().max()


MODULES = {
    'ELA-B': (lambda **kw: ELA(16, 'B', **kw), '_StripAttention'),
    'CA': (lambda **kw: CoordAtt(16, **kw), '_StripAttention'),
    'SE': (lambda **kw: SE(16, reduction=4, **kw), '_ChannelGate'),
    'ECA': (lambda **kw: ECA(16, **kw), '_ChannelGate'),
    'CBAM': (lambda **kw: CBAM(16, reduction=4, **kw), '_CBAMGates'),
}


@pytest.mark.parametrize('name', list(MODULES))
def test_fused_switches_the_custom_autograd_path_of_every_module(name, randomise):
    """One flag, ``fused``, means "run the custom autograd function" in all five modules (its
    default True); ``lean`` only chooses what that function keeps for backward."""
    make, function = MODULES[name]
    x = torch.randn(2, 16, 6, 5, requires_grad=True)
    for lean in (True, False):
        m = randomise(make(lean=lean)).train()
        assert m.fused is True and m.lean is lean
        assert type(m(x).grad_fn).__name__ == f'{function}Backward', (name, lean)
    off = randomise(make(fused=False)).train()
    assert not type(off(x).grad_fn).__name__.startswith('_'), type(off(x).grad_fn).__name__
    torch.testing.assert_close(off(x), off.forward_reference(x))
