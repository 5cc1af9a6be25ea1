"""Small helpers shared by the attention modules."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ela_mm.ops import Path, channel_gate, select_path
from ela_mm.ops import triton as tk


def channel_gate_forward(module: nn.Module, x: Tensor) -> Tensor:
    """``x * module.gate(x.mean((2, 3), keepdim=True))`` (SE, ECA); in training with
    ``module.fused``, through :func:`ela_mm.ops.channel_gate` (keeps the N x C gate and, with
    ``module.lean``, x's producer tensors instead of ``x``), else the plain PyTorch form; both on
    the Triton kernels of :mod:`ela_mm.ops.triton` where those are switched on and take ``x``."""
    params = list(module.parameters())
    path = select_path(x, params, module.fused)
    if path is not Path.REFERENCE and tk.use(x):
        return tk.apply_channel_gate(x, module.gate, params, path, module.lean)
    if path is Path.FUSED:
        return channel_gate(x, module.gate, params, module.lean)
    return module.forward_reference(x)


def check_positive(name: str, **values: int) -> None:
    """Raise a ``TypeError`` for an argument that is not an integer (``ELA('256')``, ``SE(64.0)``,
    ``True``) and a ``ValueError`` for one under 1, each naming the module, the argument and the
    value, before any comparison or layer sees it."""
    for arg, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            hint = f' (write {arg}={int(value)})' if _is_whole(value) else ''
            raise TypeError(
                f'{name}: {arg} must be a positive integer, got {value!r} '
                f'({type(value).__name__}){hint}'
            )
        if value < 1:
            raise ValueError(f'{name}: {arg} must be a positive integer, got {value}')


def _is_whole(value) -> bool:
    """Whether ``value`` (a string or a float) names a whole number, as ``'256'`` or ``64.0``."""
    try:
        return not isinstance(value, bool) and float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def check_divides(groups: int, channels: int, what: str, override: str) -> None:
    """Raise a ``ValueError`` naming the problem and the fix when ``groups`` does not divide
    ``channels``. ``what`` describes the groups (e.g. ``'ELA-T: GroupNorm num_groups'``) and
    ``override`` is the argument the user can pass instead."""
    if groups < 1 or channels % groups != 0:
        ok = max(d for d in range(1, max(groups, 1) + 1) if channels % d == 0)
        raise ValueError(
            f'{what}={groups} does not divide in_channels={channels}. Pass {override}=<a divisor '
            f'of {channels}> (e.g. {override}={ok}, the largest divisor not above {groups}) or '
            f'choose another variant.'
        )


def conv_for_compile(z: Tensor, conv: nn.Module) -> Tensor:
    """``conv(z)`` for a 1D convolution with 'same' padding, or a 1x1 2D convolution, written
    without a convolution op while ``torch.compile`` traces (eager: the convolution itself).

    Inductor's convolution-backward lowering fixes the input length of a graph, so a compiled
    module whose input size changes (YOLOX's multi-scale training) would be compiled again for
    every size; k shifted products (1D) or an einsum (1x1) keep the graph dynamic. Same values
    to float rounding."""
    w, groups = conv.weight, conv.groups
    if not torch.compiler.is_compiling():
        return conv._conv_forward(z, w, conv.bias)
    if w.dim() == 4:  # 1x1 Conv2d
        out = torch.einsum('nchw,oc->nohw', z, w[:, :, 0, 0])
        return out if conv.bias is None else out + conv.bias[None, :, None, None]
    n, c, length = z.shape
    out_c, cin_g, k = w.shape
    zp = F.pad(z, (k // 2, k // 2))
    if groups == c == out_c:  # depthwise
        out = sum(w[None, :, 0, j, None] * zp[:, :, j : j + length] for j in range(k))
    else:
        zg = zp.reshape(n, groups, cin_g, -1)
        wg = w.reshape(groups, out_c // groups, cin_g, k)
        out = sum(
            torch.einsum('ngil,goi->ngol', zg[..., j : j + length], wg[..., j]) for j in range(k)
        ).reshape(n, out_c, length)
    return out if conv.bias is None else out + conv.bias[None, :, None]


class _DynamicUnderCompile:
    """The forward of :class:`StripConv1d` and :class:`PointwiseConv2d`: the convolution itself
    in eager mode and TorchScript, :func:`conv_for_compile` under ``torch.compile``."""

    def forward(self, z: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return self._conv_forward(z, self.weight, self.bias)
        return conv_for_compile(z, self)


class StripConv1d(_DynamicUnderCompile, nn.Conv1d):
    """``nn.Conv1d`` ('same' padding) of the attention strips, whose graph under
    ``torch.compile`` stays dynamic in the strip length (:func:`conv_for_compile`); eager and
    TorchScript run the convolution itself. Same parameters and state-dict keys as ``nn.Conv1d``."""


class PointwiseConv2d(_DynamicUnderCompile, nn.Conv2d):
    """A 1x1 ``nn.Conv2d`` whose graph under ``torch.compile`` stays dynamic in the input size
    (:func:`conv_for_compile`); eager and TorchScript run the convolution itself."""
