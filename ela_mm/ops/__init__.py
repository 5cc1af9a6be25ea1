"""Fused operations: strip pooling + gating of strip-attention modules (ELA, CA)."""
from .strip_attention import (dwconv_gn_sigmoid, has_fused_kernels, is_tracing,
                              strip_attention, strip_attention_reference)

__all__ = ['strip_attention', 'strip_attention_reference', 'has_fused_kernels',
           'dwconv_gn_sigmoid', 'is_tracing']
