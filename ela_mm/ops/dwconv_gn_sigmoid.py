"""ELA's strip operator: ``sigmoid(GroupNorm(conv1d(z)))`` on strips z (N, C, L).

:func:`dwconv_gn_sigmoid` always returns the result. For a depthwise conv on CPU tensors of one
dtype (ELA-T and ELA-B), with the compiled extension loaded and outside autocast, it runs the C++
kernels: forward in one pass (inference keeps nothing), and with autograd one node whose backward
takes two passes instead of autograd through a conv, a GroupNorm and a sigmoid. Everywhere else
(grouped convs of ELA-S/L, CUDA, autocast, no extension) it runs the same maths in PyTorch ops.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from .ext_loader import ext

__all__ = ['dwconv_gn_sigmoid', 'conv_gn_sigmoid']


class _DwConvGNSigmoid(torch.autograd.Function):
    """The C++ forward and backward as one autograd node. Saves z, the conv output and the GN
    statistics."""

    @staticmethod
    def forward(
        ctx, z: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor, groups: int, eps: float
    ) -> Tensor:
        out, u, mean, rstd = ext.dwconv_gn_sigmoid_forward(
            z, weight, gamma, beta, groups, eps, True
        )
        ctx.save_for_backward(out, u, mean, rstd, z, weight, gamma)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        g_z, g_w, g_gamma, g_beta = ext.dwconv_gn_sigmoid_backward(
            grad.contiguous(), *ctx.saved_tensors
        )
        return g_z, g_w, g_gamma, g_beta, None, None


def _use_kernel(z: Tensor, weight: Tensor, groups: int, gn: nn.GroupNorm) -> bool:
    return (
        ext is not None
        and z.device.type == 'cpu'
        and groups == z.shape[1]
        and weight.shape[0] == z.shape[1]
        and weight.shape[1] == 1
        and gn.affine
        and not torch.is_autocast_enabled('cpu')
        and z.dtype == weight.dtype == gn.weight.dtype
    )


def dwconv_gn_sigmoid(z: Tensor, weight: Tensor, groups: int, gn: nn.GroupNorm) -> Tensor:
    """``sigmoid(gn(F.conv1d(z, weight, padding=k // 2, groups=groups)))``.

    Args:
        z: strips (N, C, L).
        weight: conv weight (C, C / groups, k), k odd ('same' padding, no bias).
        groups: conv groups (C: depthwise).
        gn: the GroupNorm (its ``num_groups``, ``eps`` and affine parameters are used).
    """
    if _use_kernel(z, weight, groups, gn):
        z, weight = z.contiguous(), weight.contiguous()
        if torch.is_grad_enabled() and any(
            t.requires_grad for t in (z, weight, gn.weight, gn.bias)
        ):
            return _DwConvGNSigmoid.apply(z, weight, gn.weight, gn.bias, gn.num_groups, gn.eps)
        return ext.dwconv_gn_sigmoid_forward(
            z, weight, gn.weight, gn.bias, gn.num_groups, gn.eps, False
        )[0]
    # the 1D conv as a (k x 1) 2D conv: same result, several times faster on CPU for small groups
    u = F.conv2d(
        z.unsqueeze(-1), weight.unsqueeze(-1), padding=(weight.shape[-1] // 2, 0), groups=groups
    ).squeeze(-1)
    return F.group_norm(u, gn.num_groups, gn.weight, gn.bias, gn.eps).sigmoid()


#: the earlier name of :func:`dwconv_gn_sigmoid` (kept: ``from ela_mm.ops import conv_gn_sigmoid``)
conv_gn_sigmoid = dwconv_gn_sigmoid
