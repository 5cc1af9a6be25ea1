"""ELA's strip operator: the C++ kernels (one autograd node) and the PyTorch code equal the
functional ops, forward and backward; gradcheck in float64."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from ela_mm.ops import dwconv_gn_sigmoid


def reference(z, w, gamma, beta, groups, conv_groups):
    return torch.sigmoid(
        F.group_norm(
            F.conv1d(z, w, padding=w.shape[-1] // 2, groups=conv_groups), groups, gamma, beta
        )
    )


def _gn(gamma, beta, groups):
    """A GroupNorm's attributes, with these tensors as its parameters."""
    return SimpleNamespace(weight=gamma, bias=beta, num_groups=groups, eps=1e-5, affine=True)


@pytest.mark.parametrize(
    'shape,groups,k',
    [
        ((3, 8, 11), 2, 7),
        ((2, 4, 1), 2, 5),
        ((1, 6, 4), 1, 7),
        ((2, 4, 9), 4, 3),
        ((2, 6, 16), 3, 11),
    ],
)
def test_kernel_gradcheck_and_reference(shape, groups, k, ext_calls):
    """Depthwise: the C++ node. Shapes cover L=1, strips shorter than the kernel, one channel
    per group, one group, and a kernel size without an unrolled loop (11)."""
    torch.manual_seed(0)
    c = shape[1]
    z = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w, gamma, beta = (
        torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((c, 1, k), c, c)
    )

    def fn(z, w, gamma, beta):
        return dwconv_gn_sigmoid(z, w, c, _gn(gamma, beta, groups))

    assert type(fn(z, w, gamma, beta).grad_fn).__name__ == '_DwConvGNSigmoidBackward'
    assert torch.autograd.gradcheck(fn, (z, w, gamma, beta))

    args = [t.detach().float().requires_grad_() for t in (z, w, gamma, beta)]
    ref_args = [t.detach().clone().requires_grad_() for t in args]
    out, ref = fn(*args), reference(*ref_args, groups, c)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    for a, b in zip(args, ref_args):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
    calls = dict(ext_calls)
    with torch.no_grad():  # inference: the forward kernel without saving
        torch.testing.assert_close(fn(*args), ref, rtol=1e-5, atol=1e-6)
    assert ext_calls['dwconv_gn_sigmoid_forward'] == calls['dwconv_gn_sigmoid_forward'] + 1
    assert ext_calls['dwconv_gn_sigmoid_backward'] >= 1


@pytest.mark.parametrize('conv_groups', [1, 2, 4])
def test_grouped_conv_runs_pytorch_and_matches(conv_groups, ext_calls):
    torch.manual_seed(0)
    z = torch.randn(2, 8, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 8 // conv_groups, 5, dtype=torch.float64, requires_grad=True)
    gamma, beta = (torch.randn(8, dtype=torch.float64, requires_grad=True) for _ in range(2))

    def fn(z, w, gamma, beta):
        return dwconv_gn_sigmoid(z, w, conv_groups, _gn(gamma, beta, 4))

    torch.testing.assert_close(fn(z, w, gamma, beta), reference(z, w, gamma, beta, 4, conv_groups))
    assert torch.autograd.gradcheck(fn, (z, w, gamma, beta))
    assert ext_calls == {}


def test_autocast_runs_pytorch(ext_calls):
    z = torch.randn(2, 8, 9)
    w, gamma, beta = torch.randn(8, 1, 5), torch.randn(8), torch.randn(8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = dwconv_gn_sigmoid(z, w, 8, _gn(gamma, beta, 4))
    assert ext_calls == {}
    torch.testing.assert_close(out.float(), reference(z, w, gamma, beta, 4, 8), rtol=0, atol=0.02)
