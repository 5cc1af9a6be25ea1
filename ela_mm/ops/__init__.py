"""Fused operations of the attention modules and their kernels, one op family per file (the C++
file of ``csrc/`` and the Triton file of ``triton/`` named like the Python op they serve):

* ``path``: the one decision of how a module's forward runs (:func:`select_path`: reference,
  fused or inference; :func:`cpu_kernel`: whether the compiled kernels take a tensor);
* ``strip_attention`` (ELA, CA: strip pooling and gating; ``csrc/strip_attention.cpp``,
  ``triton/strip_attention.py``);
* ``dwconv_gn_sigmoid`` (ELA's strip operator; ``csrc/dwconv_gn_sigmoid.cpp``);
* ``channel_gate`` (SE, ECA; ``triton/channel_gate.py``) and ``cbam_gates`` (CBAM);
* ``recompute`` (the memory-lean backward: the input rebuilt from its producer);
* ``ext_loader`` (the compiled CPU kernels of ``csrc/``, bound in ``csrc/pybind.cpp``) and
  ``triton`` (the CUDA kernels, opt-in with ``ELA_MM_TRITON=1``)."""

import os

import torch

from . import triton
from .cbam_gates import cbam_gates
from .channel_gate import channel_gate
from .dwconv_gn_sigmoid import conv_gn_sigmoid, dwconv_gn_sigmoid
from .ext_loader import has_fused_kernels, load_ext
from .ext_loader import kernels_in_use as _cpu_kernels
from .path import Path, cpu_kernel, select_path
from .recompute import rebuild_source
from .strip_attention import strip_attention, strip_gate, strip_pool

__all__ = [
    'Path',
    'select_path',
    'cpu_kernel',
    'strip_attention',
    'strip_pool',
    'strip_gate',
    'dwconv_gn_sigmoid',
    'conv_gn_sigmoid',
    'channel_gate',
    'cbam_gates',
    'rebuild_source',
    'has_fused_kernels',
    'kernels_in_use',
    'load_ext',
    'triton',
]


def kernels_in_use() -> str:
    """One line saying which kernels run: the compiled CPU extension and its file, or PyTorch;
    where a GPU is present or ``ELA_MM_TRITON`` is set, also what runs on CUDA (the Triton
    kernels of :mod:`ela_mm.ops.triton`, or PyTorch ops, and why)."""
    line = _cpu_kernels()
    if 'ELA_MM_TRITON' in os.environ or torch.cuda.is_available():
        line += f'; {triton.status()}'
    return line
