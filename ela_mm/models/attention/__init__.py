"""Attention modules on the mmcv plugin contract (``in_channels`` first, root ``MODELS``)."""

from .cbam import CBAM
from .coord_att import CoordAtt
from .eca import ECA, eca_kernel_size
from .ela import ELA, ELA_B, ELA_L, ELA_S, ELA_T, ELA_VARIANTS
from .factory import ATTENTIONS, attention_cfg, build_attention
from .se import SE

__all__ = [
    'ELA',
    'ELA_T',
    'ELA_B',
    'ELA_S',
    'ELA_L',
    'ELA_VARIANTS',
    'SE',
    'ECA',
    'eca_kernel_size',
    'CoordAtt',
    'CBAM',
    'ATTENTIONS',
    'attention_cfg',
    'build_attention',
]
