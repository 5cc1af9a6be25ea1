"""Fused operations of the strip-attention modules (ELA, CA) and their compiled kernels."""

from .cbam_gates import cbam_gates
from .channel_gate import channel_gate
from .dwconv_gn_sigmoid import conv_gn_sigmoid
from .ext_loader import has_fused_kernels, kernels_in_use, load_ext
from .recompute import rebuild_source
from .strip_attention import Path, select_path, strip_attention, strip_gate, strip_pool

__all__ = [
    'Path',
    'select_path',
    'strip_attention',
    'strip_pool',
    'strip_gate',
    'conv_gn_sigmoid',
    'channel_gate',
    'cbam_gates',
    'rebuild_source',
    'has_fused_kernels',
    'kernels_in_use',
    'load_ext',
]
