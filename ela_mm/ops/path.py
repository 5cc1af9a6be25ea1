"""Which path an attention module's forward takes: the one place that decides it.

* ``Path.REFERENCE``: the module's plain PyTorch expression (``forward_reference``), for
  tracing, scripting, ``torch.compile``/``export``, ONNX export and ``fused=False``;
* ``Path.FUSED``: the module's custom autograd function (training): the full-size tensors are
  read and written once per pass and only what backward needs is kept
  (:mod:`.strip_attention`, :mod:`.channel_gate`, :mod:`.cbam_gates`);
* ``Path.INFERENCE``: the same passes without any graph.

Every module switches the custom autograd path with the same flag, ``fused`` (default
``True``). Which kernels then run a pass is decided per tensor by the op itself: the Triton
kernels of :mod:`ela_mm.ops.triton` where switched on (:func:`ela_mm.ops.triton.use`), the
compiled CPU kernels for contiguous NCHW CPU tensors (:func:`cpu_kernel`), PyTorch ops
otherwise.
"""

from enum import Enum
from typing import Iterable

import torch
from torch import Tensor

from .ext_loader import ext

__all__ = ['Path', 'select_path', 'cpu_kernel']


class Path(Enum):
    """How an attention module's forward runs (see the module docstring)."""

    REFERENCE = 'reference'
    FUSED = 'fused'
    INFERENCE = 'inference'


def select_path(x: Tensor, params: Iterable[Tensor], fused: bool = True) -> Path:
    """The path for input ``x`` of a module with parameters ``params`` (see :class:`Path`)."""
    if (
        not fused
        or torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
    ):
        return Path.REFERENCE
    if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
        return Path.FUSED
    return Path.INFERENCE


def cpu_kernel(x: Tensor) -> bool:
    """Whether the compiled CPU kernels (``ela_mm._ext``) take ``x``: loaded, a contiguous
    NCHW CPU tensor."""
    return ext is not None and x.device.type == 'cpu' and x.is_contiguous()
