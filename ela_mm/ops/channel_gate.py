"""``x * gate(mean_hw(x))`` (SE, ECA) keeping for backward only x's producer tensors and the gate.

The channel-gate modules' backward needs ``x`` once, for the gate's gradient
``sum_hw(grad * x)``; everything else is per channel (N x C). Here ``x`` is rebuilt from what the
layer before keeps (:func:`ela_mm.ops.recompute.rebuild_source`, one elementwise pass) or kept
when that layer is not recognised; the small gate graph (pooled vector -> gate) is kept as built
in forward, so backward neither pools nor multiplies again:

    grad_a = sum_hw(grad * x)      grad_s, grad_params = backward of the gate graph (N x C)
    grad_x = grad * a + grad_s / (H * W)
"""

from typing import Callable, Sequence

import torch
from torch import Tensor

from .recompute import Rebuild, rebuild, source_or_keep

__all__ = ['channel_gate']


class _ChannelGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, gate_fn, source: Rebuild, *params: Tensor) -> Tensor:
        with torch.enable_grad():  # the small graph pooled -> gate, kept for backward
            s = x.detach().mean(dim=(2, 3), keepdim=True).requires_grad_(ctx.needs_input_grad[0])
            a = gate_fn(s)
        ctx.s, ctx.a, ctx.params, ctx.source = s, a, params, source
        ctx.hw = x.shape[2] * x.shape[3]
        ctx.save_for_backward(*source.tensors)
        return x * a.detach()

    @staticmethod
    def backward(ctx, grad: Tensor):
        x = rebuild(ctx.source, ctx.saved_tensors)
        a = ctx.a
        need_x = ctx.needs_input_grad[0]
        need = [p for p, n in zip(ctx.params, ctx.needs_input_grad[3:]) if n]
        inputs = ([ctx.s] if need_x else []) + need
        grad_a = (grad * x).sum(dim=(2, 3), keepdim=True).to(a.dtype)
        # retain: the small graph lives as long as this node (backward may run again, retain_graph)
        grads = iter(
            torch.autograd.grad(a, inputs, grad_a, retain_graph=True, allow_unused=True)
            if inputs
            else []
        )
        grad_x = None
        if need_x:
            grad_s = next(grads)
            grad_x = (grad * a.detach()).to(x.dtype) + (grad_s / ctx.hw).to(x.dtype)
        return (grad_x, None, None, *(next(grads) if n else None for n in ctx.needs_input_grad[3:]))


def channel_gate(
    x: Tensor,
    gate_fn: Callable[[Tensor], Tensor],
    params: Sequence[Tensor],
    lean: bool = True,
) -> Tensor:
    """``x * gate_fn(x.mean((2, 3), keepdim=True))`` for training: keeps x's producer tensors
    (``lean`` and a recognised producer) or ``x``, plus the N x C gate and its graph.
    ``gate_fn`` maps the pooled ``(N, C, 1, 1)`` tensor to the ``(N, C, 1, 1)`` gate; ``params``:
    every tensor it uses that may need a gradient."""
    return _ChannelGate.apply(x, gate_fn, source_or_keep(x, lean), *params)
