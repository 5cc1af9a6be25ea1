"""Strip attention: ``y = x * a_h * a_w`` where the strips come from the strip means of ``x``.

ELA and Coordinate Attention share this shape: pool ``x`` into z_h = mean over W (N, C, H) and
z_w = mean over H (N, C, W), compute attention strips ``a_h, a_w = attend(z_h, z_w)`` with a few
small layers, and gate ``x`` by both. Only the pooling and the gating touch full-size tensors,
and written naively in PyTorch they make four full passes forward, keep ``x * a_h`` alive for
backward, and three more passes plus a gradient accumulation backward.

:func:`strip_attention` is one custom autograd function around the whole module:

* forward: one read of ``x`` for both means, ``attend`` on the small strips (its graph recorded),
  one pass to write ``y``. Only ``x``, ``a_h`` and ``a_w`` are saved.
* backward: one read of ``grad`` and ``x`` for ``dL/da_h = sum_w grad*x*a_w`` and
  ``dL/da_w = sum_h grad*x*a_h``, autograd through the small graph, and one pass writing the
  complete input gradient ``grad*a_h*a_w + dL/dz_h / W + dL/dz_w / H``.

The passes are C++ kernels for contiguous NCHW CPU tensors (``ela_mm._ext``). Other cases (CUDA,
channels_last, strided views, a build without the extension) run the same autograd function with
PyTorch ops: as lean in memory, not one-pass. Tracing, scripting, ``torch.compile``/``export``,
ONNX export and ``fused=False`` take :func:`strip_attention_reference`, the plain expression that
the fused path is tested against.
"""
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

try:
    from ela_mm import _ext
except ImportError:  # built with ELA_MM_WITH_EXT=0: pure PyTorch
    _ext = None

Attend = Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]

__all__ = ['strip_attention', 'strip_attention_reference', 'has_fused_kernels',
           'dwconv_gn_sigmoid', 'is_tracing']


def has_fused_kernels() -> bool:
    """Whether the compiled CPU kernels (``ela_mm._ext``) are available."""
    return _ext is not None


def strip_attention_reference(x: Tensor, attend: Attend) -> Tensor:
    """The plain expression: ``x * a_h[..., None] * a_w[..., None, :]`` with
    ``a_h, a_w = attend(x.mean(3), x.mean(2))``."""
    a_h, a_w = attend(x.mean(dim=3), x.mean(dim=2))
    return x * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)


class _DwConvGNSigmoid(torch.autograd.Function):
    """sigmoid(GN(depthwise_conv1d(z))) as one node: two C++ passes instead of autograd through
    a conv, a GroupNorm and a sigmoid. Saves z, the conv output and the GN statistics."""

    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor, groups: int,
                eps: float) -> Tensor:
        out, u, mean, rstd = _ext.dwconv_gn_sigmoid_forward(z, weight, gamma, beta, groups, eps,
                                                            True)
        ctx.save_for_backward(out, u, mean, rstd, z, weight, gamma)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        g_z, g_w, g_gamma, g_beta = _ext.dwconv_gn_sigmoid_backward(grad.contiguous(),
                                                                    *ctx.saved_tensors)
        return g_z, g_w, g_gamma, g_beta, None, None


def dwconv_gn_sigmoid(z: Tensor, weight: Tensor, gn: torch.nn.GroupNorm) -> Optional[Tensor]:
    """``sigmoid(gn(depthwise_conv1d(z, weight, padding=k//2)))`` by the C++ kernels (forward in
    one pass; with autograd, backward in two) for CPU tensors of one dtype; ``None`` where it
    does not apply (no extension, tracing, CUDA, autocast, mixed dtypes, a grouped conv or a
    GroupNorm without affine parameters), and the caller runs the PyTorch ops."""
    if (_ext is None or is_tracing() or z.device.type != 'cpu'
            or weight.shape[1] != 1 or weight.shape[0] != z.shape[1] or not gn.affine
            or torch.is_autocast_enabled('cpu')
            or not z.dtype == weight.dtype == gn.weight.dtype):
        return None
    z, weight = z.contiguous(), weight.contiguous()
    if torch.is_grad_enabled() and any(t.requires_grad for t in (z, weight, gn.weight, gn.bias)):
        return _DwConvGNSigmoid.apply(z, weight, gn.weight, gn.bias, gn.num_groups, gn.eps)
    return _ext.dwconv_gn_sigmoid_forward(z, weight, gn.weight, gn.bias, gn.num_groups, gn.eps,
                                          False)[0]


def is_tracing() -> bool:
    """Whether the call is being traced, scripted, compiled or exported (ONNX): then the plain
    tensor expressions run instead of the custom autograd function and C++ kernels."""
    return (torch.jit.is_scripting() or torch.jit.is_tracing()
            or torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export())


def _use_kernel(x: Tensor) -> bool:
    return _ext is not None and x.device.type == 'cpu' and x.is_contiguous()


def _pool(x: Tensor, kernel: bool) -> Tuple[Tensor, Tensor]:
    return tuple(_ext.strip_pool(x)) if kernel else (x.mean(dim=3), x.mean(dim=2))


def _gate(x: Tensor, a_h: Tensor, a_w: Tensor, kernel: bool) -> Tensor:
    if kernel:
        return _ext.gate_forward(x, a_h.contiguous(), a_w.contiguous())
    return x * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)


class _StripAttention(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: Tensor, attend: Attend, *params: Tensor) -> Tensor:
        kernel = _use_kernel(x)
        z_h, z_w = _pool(x, kernel)
        with torch.enable_grad():
            z_h, z_w = z_h.detach().requires_grad_(), z_w.detach().requires_grad_()
            a_h, a_w = attend(z_h, z_w)
        ah, aw = a_h.detach().to(x.dtype), a_w.detach().to(x.dtype)
        if kernel:
            ah, aw = ah.contiguous(), aw.contiguous()
        ctx.save_for_backward(x, ah, aw)
        ctx.graph = (z_h, z_w, a_h, a_w)  # the small strips' graph, for backward
        ctx.params = params
        ctx.kernel = kernel
        return _gate(x, ah, aw, kernel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, ah, aw = ctx.saved_tensors
        z_h, z_w, a_h, a_w = ctx.graph
        kernel = ctx.kernel
        if kernel:
            grad = grad.contiguous()
            g_ah, g_aw = _ext.gate_backward_strips(grad, x, ah, aw)
        else:
            gx = grad * x
            g_ah = (gx * aw.unsqueeze(-2)).sum(dim=3)
            g_aw = (gx * ah.unsqueeze(-1)).sum(dim=2)
            del gx
        need_x = ctx.needs_input_grad[0]
        params = [p for p, need in zip(ctx.params, ctx.needs_input_grad[2:]) if need]
        inputs = ([z_h, z_w] if need_x else []) + params
        grads = list(torch.autograd.grad((a_h, a_w), inputs,
                                         (g_ah.to(a_h.dtype), g_aw.to(a_w.dtype)),
                                         retain_graph=True,  # small; lets backward run twice
                                         allow_unused=True)) if inputs else []
        grad_x = None
        if need_x:
            g_zh, g_zw = grads[:2]
            grads = grads[2:]
            h, w = x.shape[2:]
            b_h = (g_zh / w).to(x.dtype)
            b_w = (g_zw / h).to(x.dtype)
            if kernel:
                grad_x = _ext.gate_backward_input(grad, ah, aw, b_h.contiguous(),
                                                  b_w.contiguous())
            else:
                grad_x = (grad * aw.unsqueeze(-2) * ah.unsqueeze(-1) + b_h.unsqueeze(-1)
                          + b_w.unsqueeze(-2))
        it = iter(grads)
        param_grads = [next(it) if need else None for need in ctx.needs_input_grad[2:]]
        return (grad_x, None, *param_grads)


def strip_attention(x: Tensor, attend: Attend, params: Sequence[Tensor],
                    fused: bool = True) -> Tensor:
    """``x * a_h * a_w`` with ``a_h, a_w = attend(mean_W(x), mean_H(x))``, memory-lean.

    Args:
        x: feature map (N, C, H, W).
        attend: maps the strips z_h (N, C, H) and z_w (N, C, W) to attention strips of the same
            shapes. It may use any parameters, which must all be listed in ``params``.
        params: the tensors ``attend`` uses that may need gradients (a module's parameters).
        fused: ``False`` forces :func:`strip_attention_reference`.

    Attention strips are cast to ``x.dtype`` (under autocast they may leave GroupNorm in float32
    while ``x`` is half precision), so the output has the dtype of ``x``.
    """
    if not fused or is_tracing():
        return strip_attention_reference(x, attend)
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return _StripAttention.apply(x, attend, *params)
    kernel = _use_kernel(x)  # inference: no graph at all
    a_h, a_w = attend(*_pool(x, kernel))
    return _gate(x, a_h.to(x.dtype), a_w.to(x.dtype), kernel)
