"""Strip attention: ``y = x * a_h * a_w``, the attention strips computed from the strip means.

ELA and Coordinate Attention share this shape: pool ``x`` into z_h = mean over W (N, C, H) and
z_w = mean over H (N, C, W), compute attention strips ``a_h, a_w = attend(z_h, z_w)`` with a few
small layers, and gate ``x`` by both. Only the pooling and the gating touch full-size tensors.
Written naively they make four full passes forward, keep ``x * a_h`` for backward, and three
more passes plus a gradient accumulation backward.

The module's path (:mod:`.path`: reference, fused or inference) is chosen by
:func:`ela_mm.ops.path.select_path`. On the fused path, :func:`strip_attention`'s custom
autograd function makes one read of ``x`` for both means, runs ``attend`` on the small strips
with its graph recorded and makes one pass to write ``y``; only ``x`` (or its producer's
tensors), ``a_h`` and ``a_w`` are saved; backward reads ``grad`` and ``x`` once for the strip
gradients and writes the complete input gradient in one more pass. The inference path makes
the same passes without any graph.

Every op here returns a tensor: the Triton kernels of :mod:`ela_mm.ops.triton` for CUDA tensors
when switched on (``ELA_MM_TRITON=1``, opt-in), the C++ kernel for contiguous NCHW CPU tensors
when the extension is loaded, the same maths in PyTorch ops otherwise (CUDA by default,
channels_last or strided CPU tensors, no extension).
"""

from typing import Callable, Sequence, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from . import triton as tk
from .ext_loader import ext
from .path import Path, cpu_kernel
from .recompute import rebuild, rebuild_source

Attend = Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]

__all__ = ['strip_attention', 'strip_pool', 'strip_gate']


def strip_pool(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(x.mean(3), x.mean(2))``: the strips z_h (N, C, H) and z_w (N, C, W), in one read."""
    if tk.use(x):
        return tk.strip_pool(x)
    if cpu_kernel(x):
        z_h, z_w = ext.strip_pool(x)
        return z_h, z_w
    return x.mean(dim=3), x.mean(dim=2)


def strip_gate(x: Tensor, a_h: Tensor, a_w: Tensor) -> Tensor:
    """``x * a_h[..., None] * a_w[..., None, :]`` in one pass."""
    if tk.use(x):
        return tk.strip_gate(x, a_h, a_w)
    if cpu_kernel(x):
        return ext.gate_forward(x, a_h.contiguous(), a_w.contiguous())
    return x * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)


def _gate_backward_strips(
    grad: Tensor, x: Tensor, a_h: Tensor, a_w: Tensor
) -> Tuple[Tensor, Tensor]:
    """``(sum_w grad*x*a_w, sum_h grad*x*a_h)``: the gradients of the two strips."""
    if tk.use(x):
        return tk.strip_grads(grad, x, a_h, a_w)
    if cpu_kernel(x):
        g_h, g_w = ext.gate_backward_strips(
            grad.contiguous(), x, a_h.contiguous(), a_w.contiguous()
        )
        return g_h, g_w
    gx = grad * x
    return (gx * a_w.unsqueeze(-2)).sum(dim=3), (gx * a_h.unsqueeze(-1)).sum(dim=2)


def _gate_backward_input(
    grad: Tensor, x: Tensor, a_h: Tensor, a_w: Tensor, b_h: Tensor, b_w: Tensor
) -> Tensor:
    """``grad*a_h*a_w + b_h + b_w``: the whole input gradient (gating + strip means)."""
    if tk.use(x):
        return tk.strip_gate(grad, a_h, a_w, b_h, b_w)
    if cpu_kernel(x):
        return ext.gate_backward_input(
            grad.contiguous(),
            a_h.contiguous(),
            a_w.contiguous(),
            b_h.contiguous(),
            b_w.contiguous(),
        )
    return grad * a_w.unsqueeze(-2) * a_h.unsqueeze(-1) + b_h.unsqueeze(-1) + b_w.unsqueeze(-2)


class _StripAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, attend: Attend, source, again: bool, *params: Tensor) -> Tensor:
        z_h, z_w = strip_pool(x)
        ctx.source, ctx.params, ctx.again, ctx.attend = source, params, again, attend
        # x itself, or (memory-lean) what x's producer keeps anyway, to rebuild x in backward
        kept = source.tensors if source is not None else (x,)
        if again:  # the strips' layers run again in backward: keep only the two strip means
            with torch.no_grad():
                a_h, a_w = attend(z_h, z_w)
            ctx.autocast = (
                x.device.type,
                torch.is_autocast_enabled(x.device.type),
                torch.get_autocast_dtype(x.device.type),
            )
            ctx.save_for_backward(*kept, z_h, z_w)
            return strip_gate(x, a_h.to(x.dtype), a_w.to(x.dtype))
        with torch.enable_grad():
            z_h, z_w = z_h.detach().requires_grad_(), z_w.detach().requires_grad_()
            a_h, a_w = attend(z_h, z_w)
        ah, aw = a_h.detach().to(x.dtype), a_w.detach().to(x.dtype)
        ctx.save_for_backward(*kept, ah, aw)
        ctx.graph = (z_h, z_w, a_h, a_w)  # the small strips' graph, for backward
        return strip_gate(x, ah, aw)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        *kept, s_h, s_w = ctx.saved_tensors
        x = kept[0] if ctx.source is None else rebuild(ctx.source, kept)
        if ctx.again:
            device, enabled, dtype = ctx.autocast
            with torch.enable_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                z_h, z_w = s_h.detach().requires_grad_(), s_w.detach().requires_grad_()
                a_h, a_w = ctx.attend(z_h, z_w)
            ah, aw = a_h.detach().to(x.dtype), a_w.detach().to(x.dtype)
        else:
            ah, aw = s_h, s_w
            z_h, z_w, a_h, a_w = ctx.graph
        g_ah, g_aw = _gate_backward_strips(grad, x, ah, aw)
        need_x = ctx.needs_input_grad[0]
        params = [p for p, need in zip(ctx.params, ctx.needs_input_grad[4:]) if need]
        inputs = ([z_h, z_w] if need_x else []) + params
        grads = (
            list(
                torch.autograd.grad(
                    (a_h, a_w),
                    inputs,
                    (g_ah.to(a_h.dtype), g_aw.to(a_w.dtype)),
                    retain_graph=True,  # small; lets backward run twice
                    allow_unused=True,
                )
            )
            if inputs
            else []
        )
        grad_x = None
        if need_x:
            g_zh, g_zw = grads[:2]
            grads = grads[2:]
            h, w = x.shape[2:]
            grad_x = _gate_backward_input(
                grad, x, ah, aw, (g_zh / w).to(x.dtype), (g_zw / h).to(x.dtype)
            )
        it = iter(grads)
        param_grads = [next(it) if need else None for need in ctx.needs_input_grad[4:]]
        return (grad_x, None, None, None, *param_grads)


def strip_attention(
    x: Tensor,
    attend: Attend,
    params: Sequence[Tensor],
    path: Path = Path.FUSED,
    lean: bool = True,
    again: bool = False,
) -> Tensor:
    """``x * a_h * a_w`` with ``a_h, a_w = attend(mean_W(x), mean_H(x))``, fused.

    Args:
        x: feature map (N, C, H, W).
        attend: maps the strips z_h (N, C, H) and z_w (N, C, W) to attention strips of the same
            shapes. It may use any parameters, which must all be listed in ``params``.
        params: the tensors ``attend`` uses that may need gradients (a module's parameters).
        path: ``Path.FUSED`` (one autograd node) or ``Path.INFERENCE`` (no graph), as
            :func:`select_path` decides; the reference path is the module's own expression.
        lean: on the fused path, keep what x's producer keeps instead of ``x`` when the
            producer is a normalisation or activation :mod:`ela_mm.ops.recompute` rebuilds
            (no full-size tensor of its own for backward); ``False``: always keep ``x``.
        again: on the fused path, run ``attend`` again in backward instead of keeping its
            graph (only the two strip means are kept). Only for an ``attend`` whose layers hold
            no running statistics (ELA's GroupNorm: yes; Coordinate Attention's BatchNorm: no,
            it would update them twice).

    The attention strips are cast to ``x.dtype`` (under autocast they may leave GroupNorm in
    float32 while ``x`` is half precision), so the output has the dtype of ``x``.
    """
    if path is Path.FUSED:
        source = rebuild_source(x) if lean else None
        return _StripAttention.apply(x, attend, source, again, *params)
    if path is Path.INFERENCE:
        a_h, a_w = attend(*strip_pool(x))
        return strip_gate(x, a_h.to(x.dtype), a_w.to(x.dtype))
    raise ValueError(
        f'strip_attention runs the fused and inference paths, got {path}; '
        f"the reference path is the module's forward_reference"
    )
