"""CBAM's two gates, ``y = x * ca * sa``, keeping for backward only x's producer tensors and the
small gate graphs.

CBAM: ``ca = channel_fn(mean_hw(x), amax_hw(x))`` (N, C, 1, 1), ``y1 = x * ca``,
``sa = spatial_fn([mean_c(y1); amax_c(y1)])`` (N, 1, H, W), ``y = y1 * sa``. Its backward needs
``x`` and ``y1`` once each; everything else is per channel or per pixel. Here ``x`` is rebuilt
from what the layer before keeps (:func:`ela_mm.ops.recompute.rebuild_source`) or kept when that
layer is not recognised, ``y1 = x * ca`` is formed again, and the two gate graphs (pooled
descriptors -> gate) are kept as built in forward, so backward pools nothing but the maxima's
positions:

    grad_sa = sum_c(g * y1)                  -> grad_p = [grad_pa; grad_pm] through the sa graph
    grad_y1 = g * sa + grad_pa / C + [y1 == amax_c(y1)] * grad_pm / ties_c
    grad_ca = sum_hw(grad_y1 * x)            -> grad_sa_, grad_sm through the ca graph
    grad_x  = grad_y1 * ca + grad_sa_ / HW + [x == amax_hw(x)] * grad_sm / ties_hw

The maxima are taken again from the rebuilt tensors, so each mask has its maximum; ties share
the gradient equally, as ``torch.amax``'s backward does.
"""

from typing import Callable, Sequence

import torch
from torch import Tensor

from .recompute import Rebuild, rebuild, source_or_keep

__all__ = ['cbam_gates']


def _add_at_max(grad: Tensor, t: Tensor, dims, coef: Tensor) -> Tensor:
    """``grad + [t == amax(t, dims)] * coef / ties``, in place on ``grad`` (a float mask and
    one ``addcmul``: fewer passes than ``amax``'s own backward)."""
    mask = torch.eq(t, t.amax(dim=dims, keepdim=True)).to(grad.dtype)
    ties = mask.sum(dim=dims, keepdim=True)
    return grad.addcmul_(mask, (coef / ties).to(grad.dtype))


def _grads(out: Tensor, inputs, grad: Tensor):
    """Gradients of the kept graph ``out`` w.r.t. ``inputs`` (``None`` where unused)."""
    return torch.autograd.grad(
        out, inputs, grad.to(out.dtype), retain_graph=True, allow_unused=True
    )  # retain: backward may run again (retain_graph=True upstream)


class _CBAMGates(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, channel_fn, spatial_fn, source: Rebuild, *params: Tensor):
        xd = x.detach()
        with torch.enable_grad():  # the small graphs, kept for backward
            s_avg = xd.mean(dim=(2, 3), keepdim=True).requires_grad_()
            s_max = xd.amax(dim=(2, 3), keepdim=True).requires_grad_()
            ca = channel_fn(s_avg, s_max)
        y1 = xd * ca.detach()
        with torch.enable_grad():
            p = torch.cat([y1.mean(dim=1, keepdim=True), y1.amax(dim=1, keepdim=True)], dim=1)
            p.requires_grad_()
            sa = spatial_fn(p)
        ctx.graphs = (s_avg, s_max, ca, p, sa)
        ctx.params, ctx.source = params, source
        ctx.save_for_backward(*source.tensors)
        return y1 * sa.detach()

    @staticmethod
    def backward(ctx, g: Tensor):
        s_avg, s_max, ca, p, sa = ctx.graphs
        x = rebuild(ctx.source, ctx.saved_tensors)
        need = [q for q, n in zip(ctx.params, ctx.needs_input_grad[4:]) if n]
        n_c, hw = x.shape[1], x.shape[2] * x.shape[3]
        y1 = x * ca.detach()
        grad_p, *gp_spatial = _grads(sa, [p, *need], (g * y1).sum(dim=1, keepdim=True))
        grad_y1 = torch.addcmul((grad_p[:, :1] / n_c).to(g.dtype), g, sa.detach())
        grad_y1 = _add_at_max(grad_y1, y1, 1, grad_p[:, 1:])
        del y1
        grad_ca = (grad_y1 * x).sum(dim=(2, 3), keepdim=True)
        grad_avg, grad_max, *gp_channel = _grads(ca, [s_avg, s_max, *need], grad_ca)
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.addcmul((grad_avg / hw).to(x.dtype), grad_y1, ca.detach())
            grad_x = _add_at_max(grad_x, x, (2, 3), grad_max)
        summed = iter(
            a if b is None else b if a is None else a + b for a, b in zip(gp_spatial, gp_channel)
        )
        return (
            grad_x,
            None,
            None,
            None,
            *(next(summed) if n else None for n in ctx.needs_input_grad[4:]),
        )


def cbam_gates(
    x: Tensor,
    channel_fn: Callable[[Tensor, Tensor], Tensor],
    spatial_fn: Callable[[Tensor], Tensor],
    params: Sequence[Tensor],
    lean: bool = True,
) -> Tensor:
    """``y1 * spatial_fn([mean_c(y1); amax_c(y1)])`` with
    ``y1 = x * channel_fn(mean_hw(x), amax_hw(x))`` for training: keeps x's producer tensors
    (``lean`` and a recognised producer) or ``x``, plus the gates and their graphs (N x C and
    N x 2 x H x W).
    ``channel_fn`` maps the two pooled ``(N, C, 1, 1)`` descriptors to the ``(N, C, 1, 1)`` gate,
    ``spatial_fn`` the ``(N, 2, H, W)`` maps to the ``(N, 1, H, W)`` gate; ``params``: every
    tensor they use that may need a gradient."""
    return _CBAMGates.apply(x, channel_fn, spatial_fn, source_or_keep(x, lean), *params)
