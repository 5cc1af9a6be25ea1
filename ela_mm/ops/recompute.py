"""Attention inputs rebuilt in backward from what the layer before already keeps.

An attention module after a normalisation or an activation keeps its input ``x`` for backward: a
full-size tensor per block that the plain network does not keep (BatchNorm keeps its *input*, the
convolution's output; SiLU, Hardswish and ReLU6 keep theirs too). Here the attention keeps what
its producer keeps instead, the same storage, so nothing new, and rebuilds ``x`` from it in
backward with one elementwise pass. :func:`rebuild_source` reads the producer from
``x.grad_fn`` (autograd's record of the op that made ``x``), so no model code changes, no state
dict changes, and normalisation statistics are never recomputed into the running buffers:
BatchNorm is rebuilt from the batch mean and inverse deviation it saved, ``z * a + b`` per
channel.

Producers recognised: BatchNorm (training and eval mode; CPU's native and CUDA's cuDNN kernels),
SiLU, Hardswish, ReLU6/Hardtanh, and ``a * b`` with both factors saved (mmcv's Swish,
``x * sigmoid(x)``). Anything else (ReLU keeps its output, which *is* ``x``: nothing to gain;
a sum; a SyncBatchNorm; a frozen BatchNorm bias) returns ``None`` and the caller keeps ``x``.
"""

from typing import Callable, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['Rebuild', 'rebuild_source', 'source_or_keep', 'rebuild']

_BATCH_NORM = {'NativeBatchNormBackward0', 'CudnnBatchNormBackward0', 'MiopenBatchNormBackward0'}


class Rebuild(NamedTuple):
    """``fn(*tensors)`` gives back ``x``; ``tensors`` are already kept by x's producer."""

    tensors: Tuple[Tensor, ...]
    fn: Callable[..., Tensor]


def _leaf_input(node, index: int) -> Optional[Tensor]:
    """The leaf tensor (a parameter) behind input ``index`` of an autograd node, if it has one."""
    nf = node.next_functions
    if index >= len(nf) or nf[index][0] is None:
        return None
    return getattr(nf[index][0], 'variable', None)


def _batch_norm(node) -> Optional[Rebuild]:
    z, weight = node._saved_input, node._saved_weight
    eps = getattr(node, '_saved_eps', getattr(node, '_saved_epsilon', None))
    bias = _leaf_input(node, 2)
    if eps is None or (weight is not None and bias is None) or (weight is None) != (bias is None):
        return None  # a frozen bias is in no saved tensor: keep x
    if node._saved_training:
        mean, invstd = node._saved_result1, node._saved_result2  # the batch statistics
        if mean is None or invstd is None or mean.numel() == 0:
            return None
    else:
        mean, var = node._saved_running_mean, node._saved_running_var
        if mean is None or var is None:
            return None
        invstd = torch.rsqrt(var + eps)
    if weight is None:
        return Rebuild((z, mean, invstd), _affine)
    return Rebuild((z, mean, invstd, weight, bias), _affine)


def _affine(z: Tensor, mean: Tensor, invstd: Tensor, weight=None, bias=None) -> Tensor:
    """BatchNorm's output from its statistics: ``z * a + b`` per channel, as its kernel does."""
    a = invstd if weight is None else invstd * weight
    b = -mean * a if bias is None else bias - mean * a
    shape = (1, -1) + (1,) * (z.dim() - 2)
    return torch.addcmul(b.to(z.dtype).view(shape), z, a.to(z.dtype).view(shape))


def rebuild_source(x: Tensor) -> Optional[Rebuild]:
    """How to rebuild ``x`` from what its producer keeps, or ``None`` (keep ``x`` itself)."""
    node = x.grad_fn
    if node is None:
        return None
    name = type(node).__name__
    if name in _BATCH_NORM:
        return _batch_norm(node)
    if name == 'SiluBackward0':
        return Rebuild((node._saved_self,), F.silu)
    if name == 'HardswishBackward0':
        return Rebuild((node._saved_self,), F.hardswish)
    if name == 'HardtanhBackward0':
        lo, hi = node._saved_min_val, node._saved_max_val
        return Rebuild((node._saved_self,), lambda t: F.hardtanh(t, lo, hi))
    if name == 'MulBackward0':
        a, b = node._saved_self, node._saved_other
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return Rebuild((a, b), torch.mul)
    return None


def _identity(x: Tensor) -> Tensor:
    return x


def source_or_keep(x: Tensor, lean: bool = True) -> Rebuild:
    """:func:`rebuild_source` (with ``lean``), or ``x`` itself kept: when x's producer is not
    recognised, or ``lean=False``."""
    source = rebuild_source(x) if lean else None
    return Rebuild((x,), _identity) if source is None else source


def rebuild(source: Rebuild, saved: Sequence[Tensor]) -> Tensor:
    """``x`` again, from the saved producer tensors (no graph)."""
    with torch.no_grad():
        return source.fn(*saved)
