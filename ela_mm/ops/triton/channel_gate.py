"""Triton kernels of the channel gates (SE, ECA): ``y = x * gate(mean_hw(x))``.

* ``_channel_sum``: one read: forward the channel means ``mean_hw x``, backward the gate's
  gradient ``sum_hw(grad * x)`` (one read of ``grad`` and ``x``);
* ``_channel_scale``: one read and one write: forward ``y = x * a``, backward the whole input
  gradient ``grad * a + b`` (the gating's plus the mean's, ``b = grad_s / HW``).

:func:`channel_gate` is the SE/ECA autograd function of :mod:`ela_mm.ops.channel_gate` on these
kernels: it keeps x's producer tensors (or ``x``) and the N x C gate with its small graph.
"""

from typing import Callable, Optional, Sequence

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..path import Path
from ..recompute import Rebuild, rebuild, source_or_keep
from . import launches, tiles

__all__ = ['channel_mean', 'channel_dot', 'channel_scale', 'channel_gate']


@triton.jit
def _channel_sum(
    x_ptr, g_ptr, out_ptr,
    C, H, W,
    sxn, sxc, sxh, sxw,
    sgn, sgc, sgh, sgw,
    HAS_G: tl.constexpr, ACC: tl.constexpr,
    BC: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    n_cb = tl.cdiv(C, BC)
    n = pid // n_cb
    cs = (pid % n_cb) * BC + tl.arange(0, BC)
    ws = tl.arange(0, BW)
    mc, mw = cs < C, ws < W
    x_base = x_ptr + n.to(tl.int64) * sxn + cs[:, None, None] * sxc + ws[None, None, :] * sxw
    g_base = g_ptr + n.to(tl.int64) * sgn + cs[:, None, None] * sgc + ws[None, None, :] * sgw
    acc = tl.zeros((BC, BH, BW), dtype=ACC)
    for h0 in range(0, H, BH):
        hs = h0 + tl.arange(0, BH)
        m = mc[:, None, None] & (hs < H)[None, :, None] & mw[None, None, :]
        t = tl.load(x_base + hs[None, :, None] * sxh, mask=m, other=0).to(ACC)
        if HAS_G:
            t = t * tl.load(g_base + hs[None, :, None] * sgh, mask=m, other=0).to(ACC)
        acc += t
    total = tl.sum(tl.sum(acc, axis=2), axis=1)
    if not HAS_G:  # the mean (divided in ACC: a float argument would be float32)
        total = total / (H * W)
    tl.store(out_ptr + (n * C + cs).to(tl.int64), total, mask=mc)


@triton.jit
def _channel_scale(
    x_ptr, a_ptr, b_ptr, y_ptr,
    C, H, W,
    sxn, sxc, sxh, sxw,
    syn, syc, syh, syw,
    HAS_B: tl.constexpr, ACC: tl.constexpr,
    BC: tl.constexpr, BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    n_cb = tl.cdiv(C, BC)
    n = pid // n_cb
    cs = (pid % n_cb) * BC + tl.arange(0, BC)
    hs = tl.program_id(1) * BH + tl.arange(0, BH)
    ws = tl.arange(0, BW)
    mc = cs < C
    m = mc[:, None, None] & (hs < H)[None, :, None] & (ws < W)[None, None, :]
    c3, h3, w3 = cs[:, None, None], hs[None, :, None], ws[None, None, :]
    x_at = x_ptr + n.to(tl.int64) * sxn + c3 * sxc + h3 * sxh + w3 * sxw
    x = tl.load(x_at, mask=m, other=0).to(ACC)
    vec = (n * C + cs).to(tl.int64)
    a = tl.load(a_ptr + vec, mask=mc, other=0).to(ACC)
    y = x * a[:, None, None]
    if HAS_B:
        y = y + tl.load(b_ptr + vec, mask=mc, other=0).to(ACC)[:, None, None]
    tl.store(y_ptr + n.to(tl.int64) * syn + c3 * syc + h3 * syh + w3 * syw, y, mask=m)


def _acc(x: Tensor):
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _sum(x: Tensor, g: Optional[Tensor], dtype: torch.dtype) -> Tensor:
    n, c = x.shape[:2]
    out = torch.empty(n, c, 1, 1, device=x.device, dtype=dtype)
    bc, bh, bw = tiles(x)
    has_g = g is not None
    g = g if has_g else x
    _channel_sum[(n * triton.cdiv(c, bc),)](
        x, g, out,
        c, x.shape[2], x.shape[3],
        *x.stride(), *g.stride(),
        HAS_G=has_g, ACC=_acc(x), BC=bc, BH=bh, BW=bw,
    )  # fmt: skip
    launches['channel_sum'] += 1
    return out


def channel_mean(x: Tensor) -> Tensor:
    """``x.mean((2, 3), keepdim=True)`` in one read, in ``x.dtype``."""
    return _sum(x, None, x.dtype)


def channel_dot(grad: Tensor, x: Tensor) -> Tensor:
    """``(grad * x).sum((2, 3), keepdim=True)`` in one read of each, in float32 (float64 for
    float64)."""
    return _sum(x, grad, torch.float64 if x.dtype == torch.float64 else torch.float32)


def channel_scale(x: Tensor, a: Tensor, b: Optional[Tensor] = None, dtype=None) -> Tensor:
    """``x * a`` (``+ b``) for per-channel ``a``, ``b`` (N, C, 1, 1) in one read and one write,
    in ``dtype`` (default ``x.dtype``) and the (dense) layout of ``x``."""
    n, c, h, w = x.shape
    y = torch.empty_like(x, dtype=dtype)
    bc, bh, bw = tiles(x)
    a = a.reshape(n, c).contiguous()
    has_b = b is not None
    b = b.reshape(n, c).contiguous() if has_b else a
    _channel_scale[(n * triton.cdiv(c, bc), triton.cdiv(h, bh))](
        x, a, b, y,
        c, h, w,
        *x.stride(), *y.stride(),
        HAS_B=has_b, ACC=_acc(x), BC=bc, BH=bh, BW=bw,
    )  # fmt: skip
    launches['channel_scale'] += 1
    return y


class _ChannelGate(torch.autograd.Function):
    """:class:`ela_mm.ops.channel_gate._ChannelGate` with the pooling, the gate and both
    backward passes as the kernels above."""

    @staticmethod
    def forward(ctx, x: Tensor, gate_fn, source: Rebuild, *params: Tensor) -> Tensor:
        with torch.enable_grad():  # the small graph pooled -> gate, kept for backward
            s = channel_mean(x.detach()).requires_grad_(ctx.needs_input_grad[0])
            a = gate_fn(s)
        ctx.s, ctx.a, ctx.params, ctx.source = s, a, params, source
        ctx.hw = x.shape[2] * x.shape[3]
        ctx.save_for_backward(*source.tensors)
        return channel_scale(x, a.detach(), dtype=torch.promote_types(x.dtype, a.dtype))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x = rebuild(ctx.source, ctx.saved_tensors)
        a = ctx.a
        need_x = ctx.needs_input_grad[0]
        need = [p for p, n in zip(ctx.params, ctx.needs_input_grad[3:]) if n]
        inputs = ([ctx.s] if need_x else []) + need
        grad_a = channel_dot(grad, x).to(a.dtype)
        grads = iter(
            torch.autograd.grad(a, inputs, grad_a, retain_graph=True, allow_unused=True)
            if inputs
            else []
        )
        grad_x = None
        if need_x:
            grad_s = next(grads)
            grad_x = channel_scale(grad, a.detach(), grad_s / ctx.hw, dtype=x.dtype)
        return (grad_x, None, None, *(next(grads) if n else None for n in ctx.needs_input_grad[3:]))


def channel_gate(
    x: Tensor,
    gate_fn: Callable[[Tensor], Tensor],
    params: Sequence[Tensor],
    path: Path,
    lean: bool = True,
) -> Tensor:
    """``x * gate_fn(x.mean((2, 3), keepdim=True))`` on the kernels: with autograd
    (``Path.FUSED``) one node keeping x's producer tensors or ``x``, the gate and its graph;
    without (``Path.INFERENCE``) two passes and no graph."""
    if path is Path.FUSED:
        return _ChannelGate.apply(x, gate_fn, source_or_keep(x, lean), *params)
    a = gate_fn(channel_mean(x))
    return channel_scale(x, a, dtype=torch.promote_types(x.dtype, a.dtype))
