"""The strip pooling + gating op (one autograd node) and the path decision."""

import pytest
import torch

from ela_mm.ops import Path, select_path, strip_attention, strip_gate, strip_pool


def _toy_attend(p_h, p_w):
    """A small attention with parameters, mixing both strips, for the op-level tests."""

    def attend(z_h, z_w):
        mix = z_h.mean(-1, keepdim=True) - z_w.mean(-1, keepdim=True)
        return torch.sigmoid(z_h * p_h[:, None] + mix), torch.sigmoid(z_w * p_w[:, None] - mix)

    return attend


def _reference(x, attend):
    a_h, a_w = attend(x.mean(3), x.mean(2))
    return x * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)


@pytest.mark.parametrize('shape', [(2, 3, 5, 7), (1, 2, 1, 9), (2, 2, 6, 1), (1, 1, 17, 19)])
@pytest.mark.parametrize('contiguous', [True, False])
def test_strip_attention_gradcheck_float64(shape, contiguous):
    torch.manual_seed(0)
    n, c, h, w = shape
    if contiguous:  # the C++ kernels
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    else:  # the PyTorch code of the same autograd function
        x = torch.randn(n, c, h + 1, w + 1, dtype=torch.float64)[:, :, 1:, 1:].requires_grad_()
        assert not x.is_contiguous()
    p_h = torch.randn(c, dtype=torch.float64, requires_grad=True)
    p_w = torch.randn(c, dtype=torch.float64, requires_grad=True)

    def fn(x, p_h, p_w):
        return strip_attention(x, _toy_attend(p_h, p_w), [p_h, p_w])

    assert torch.autograd.gradcheck(fn, (x, p_h, p_w))
    torch.testing.assert_close(fn(x, p_h, p_w), _reference(x, _toy_attend(p_h, p_w)))
    with torch.no_grad():
        torch.testing.assert_close(
            strip_attention(x, _toy_attend(p_h, p_w), [p_h, p_w], Path.INFERENCE),
            _reference(x, _toy_attend(p_h, p_w)),
        )


def test_strip_attention_partial_requires_grad():
    """Only the parameters, or only x, need gradients (frozen layers, first layer)."""
    x = torch.randn(2, 4, 6, 5)
    p_h, p_w = torch.randn(4, requires_grad=True), torch.randn(4)
    strip_attention(x, _toy_attend(p_h, p_w), [p_h, p_w]).sum().backward()
    ref = p_h.detach().clone().requires_grad_()
    _reference(x, _toy_attend(ref, p_w)).sum().backward()
    torch.testing.assert_close(p_h.grad, ref.grad)
    x.requires_grad_()
    strip_attention(x, _toy_attend(p_h.detach(), p_w), [p_h.detach(), p_w]).sum().backward()
    assert x.grad is not None and p_w.grad is None


def test_strip_attention_refuses_the_reference_path():
    with pytest.raises(ValueError, match="the reference path is the module's forward_reference"):
        strip_attention(
            torch.randn(1, 1, 2, 2), _toy_attend(torch.ones(1), torch.ones(1)), [], Path.REFERENCE
        )


@pytest.mark.parametrize('contiguous', [True, False])
def test_pool_and_gate_ops(contiguous):
    x = torch.randn(2, 3, 5, 7)
    if not contiguous:
        x = x.transpose(2, 3).contiguous().transpose(2, 3)
    z_h, z_w = strip_pool(x)
    torch.testing.assert_close(z_h, x.mean(3))
    torch.testing.assert_close(z_w, x.mean(2))
    a_h, a_w = torch.rand(2, 3, 5), torch.rand(2, 3, 7)
    torch.testing.assert_close(strip_gate(x, a_h, a_w), x * a_h[..., None] * a_w[:, :, None])


def test_select_path():
    x = torch.randn(1, 2, 3, 3)
    p = torch.randn(2, requires_grad=True)
    frozen = torch.randn(2)
    assert select_path(x, [p]) is Path.FUSED
    assert select_path(x, [frozen]) is Path.INFERENCE
    assert select_path(x.requires_grad_(), [frozen]) is Path.FUSED
    assert select_path(x, [p], fused=False) is Path.REFERENCE
    with torch.no_grad():
        assert select_path(x, [p]) is Path.INFERENCE
    seen = []

    def record(t):
        seen.append(select_path(t, [p]))
        return t * 2

    torch.jit.trace(record, (torch.randn(2, 2),), check_trace=False)
    assert seen and set(seen) == {Path.REFERENCE}
