"""Triton kernels of the strip attention (ELA, Coordinate Attention): ``y = x * a_h * a_w``.

Two kernels, each used twice:

* ``_strip_sum``: one read of ``x`` (and ``grad``) for both strips of a plane: forward the strip
  means ``z_h = mean_w x``, ``z_w = mean_h x``; backward the strip gradients
  ``g_h = sum_w grad * x * a_w``, ``g_w = sum_h grad * x * a_h``. One program holds a block of
  channels of one sample and walks down its rows, keeping the column sums in registers.
* ``_strip_gate``: one read and one write: forward ``y = x * a_h * a_w``, backward the whole
  input gradient ``grad * a_h * a_w + b_h + b_w`` (the gating's plus the strip means').

Any strides (NCHW, channels_last, views); sums in float32 (float64 for float64); the strips are
small contiguous (N, C, L) tensors.
"""

from typing import Optional, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from . import launches, tiles

__all__ = ['strip_pool', 'strip_gate', 'strip_grads']


@triton.jit
def _strip_sum(
    x_ptr, g_ptr, ah_ptr, aw_ptr, oh_ptr, ow_ptr,
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
    strip = (n * C + cs).to(tl.int64)  # row of the (N*C, L) strips
    x_base = x_ptr + n.to(tl.int64) * sxn + cs[:, None, None] * sxc + ws[None, None, :] * sxw
    g_base = g_ptr + n.to(tl.int64) * sgn + cs[:, None, None] * sgc + ws[None, None, :] * sgw
    mcw = mc[:, None] & mw[None, :]
    if HAS_G:
        aw = tl.load(aw_ptr + strip[:, None] * W + ws[None, :], mask=mcw, other=0).to(ACC)
    acc_w = tl.zeros((BC, BW), dtype=ACC)
    for h0 in range(0, H, BH):
        hs = h0 + tl.arange(0, BH)
        mh = hs < H
        m = mc[:, None, None] & mh[None, :, None] & mw[None, None, :]
        t = tl.load(x_base + hs[None, :, None] * sxh, mask=m, other=0).to(ACC)
        mch = mc[:, None] & mh[None, :]
        if HAS_G:
            t = t * tl.load(g_base + hs[None, :, None] * sgh, mask=m, other=0).to(ACC)
            ah = tl.load(ah_ptr + strip[:, None] * H + hs[None, :], mask=mch, other=0).to(ACC)
            row = tl.sum(t * aw[:, None, :], axis=2)
            acc_w += tl.sum(t * ah[:, :, None], axis=1)
        else:
            row = tl.sum(t, axis=2)
            acc_w += tl.sum(t, axis=1)
        if not HAS_G:  # the means (divided in ACC: a float argument would be float32)
            row = row / W
        tl.store(oh_ptr + strip[:, None] * H + hs[None, :], row, mask=mch)
    if not HAS_G:
        acc_w = acc_w / H
    tl.store(ow_ptr + strip[:, None] * W + ws[None, :], acc_w, mask=mcw)


@triton.jit
def _strip_gate(
    x_ptr, ah_ptr, aw_ptr, bh_ptr, bw_ptr, y_ptr,
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
    mc, mh, mw = cs < C, hs < H, ws < W
    strip = (n * C + cs).to(tl.int64)
    mch, mcw = mc[:, None] & mh[None, :], mc[:, None] & mw[None, :]
    ah = tl.load(ah_ptr + strip[:, None] * H + hs[None, :], mask=mch, other=0).to(ACC)
    aw = tl.load(aw_ptr + strip[:, None] * W + ws[None, :], mask=mcw, other=0).to(ACC)
    m = mc[:, None, None] & mh[None, :, None] & mw[None, None, :]
    c3, h3, w3 = cs[:, None, None], hs[None, :, None], ws[None, None, :]
    x_at = x_ptr + n.to(tl.int64) * sxn + c3 * sxc + h3 * sxh + w3 * sxw
    x = tl.load(x_at, mask=m, other=0).to(ACC)
    y = x * ah[:, :, None] * aw[:, None, :]
    if HAS_B:
        bh = tl.load(bh_ptr + strip[:, None] * H + hs[None, :], mask=mch, other=0).to(ACC)
        bw = tl.load(bw_ptr + strip[:, None] * W + ws[None, :], mask=mcw, other=0).to(ACC)
        y = y + bh[:, :, None] + bw[:, None, :]
    tl.store(y_ptr + n.to(tl.int64) * syn + c3 * syc + h3 * syh + w3 * syw, y, mask=m)


def _acc(x: Tensor):
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _sum_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _strip(t: Tensor, n: int, c: int, length: int) -> Tensor:
    """A strip as a contiguous (N, C, L) tensor."""
    return t.reshape(n, c, length).contiguous()


def _sums(x, g, a_h, a_w, out_dtype) -> Tuple[Tensor, Tensor]:
    n, c, h, w = x.shape
    o_h = torch.empty(n, c, h, device=x.device, dtype=out_dtype)
    o_w = torch.empty(n, c, w, device=x.device, dtype=out_dtype)
    bc, bh, bw = tiles(x)
    has_g = g is not None
    g = g if has_g else x
    a_h, a_w = (a_h, a_w) if has_g else (o_h, o_w)
    _strip_sum[(n * triton.cdiv(c, bc),)](
        x, g, a_h, a_w, o_h, o_w,
        c, h, w,
        *x.stride(), *g.stride(),
        HAS_G=has_g, ACC=_acc(x), BC=bc, BH=bh, BW=bw,
    )  # fmt: skip
    launches['strip_sum'] += 1
    return o_h, o_w


def strip_pool(x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(x.mean(3), x.mean(2))`` in one read of ``x``, in ``x.dtype``."""
    return _sums(x, None, None, None, x.dtype)


def strip_grads(grad: Tensor, x: Tensor, a_h: Tensor, a_w: Tensor) -> Tuple[Tensor, Tensor]:
    """``(sum_w grad*x*a_w, sum_h grad*x*a_h)`` in one read of ``grad`` and ``x``, in float32
    (float64 for float64)."""
    n, c, h, w = x.shape
    return _sums(x, grad, _strip(a_h, n, c, h), _strip(a_w, n, c, w), _sum_dtype(x))


def strip_gate(
    x: Tensor,
    a_h: Tensor,
    a_w: Tensor,
    b_h: Optional[Tensor] = None,
    b_w: Optional[Tensor] = None,
) -> Tensor:
    """``x * a_h[..., None] * a_w[..., None, :]`` (``+ b_h[..., None] + b_w[..., None, :]``)
    in one read and one write; the result has the dtype and (dense) layout of ``x``."""
    n, c, h, w = x.shape
    y = torch.empty_like(x)
    bc, bh, bw = tiles(x)
    has_b = b_h is not None
    a_h, a_w = _strip(a_h, n, c, h), _strip(a_w, n, c, w)
    b_h, b_w = (_strip(b_h, n, c, h), _strip(b_w, n, c, w)) if has_b else (a_h, a_w)
    _strip_gate[(n * triton.cdiv(c, bc), triton.cdiv(h, bh))](
        x, a_h, a_w, b_h, b_w, y,
        c, h, w,
        *x.stride(), *y.stride(),
        HAS_B=has_b, ACC=_acc(x), BC=bc, BH=bh, BW=bw,
    )  # fmt: skip
    launches['strip_gate'] += 1
    return y
