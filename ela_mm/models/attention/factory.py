"""Build an attention module from a short name or a config, timm ``create_attn`` style."""

from typing import Dict, Union

import torch.nn as nn
from mmengine.registry import MODELS

#: short name -> config (without ``in_channels``)
ATTENTIONS: Dict[str, dict] = {
    'ela': dict(type='ELA'),
    'ela_t': dict(type='ELA', variant='T'),
    'ela_b': dict(type='ELA', variant='B'),
    'ela_s': dict(type='ELA', variant='S'),
    'ela_l': dict(type='ELA', variant='L'),
    'se': dict(type='SE'),
    'eca': dict(type='ECA'),
    'ca': dict(type='CoordAtt'),
    'coord_att': dict(type='CoordAtt'),
    'cbam': dict(type='CBAM'),
}


def attention_cfg(name_or_cfg: Union[str, dict], **kwargs) -> dict:
    """The config of an attention module: a short name from :data:`ATTENTIONS` (``'ela_s'``,
    ``'ELA-S'``, ``'ca'``...) or a config dict with ``type``; ``kwargs`` override its arguments."""
    if isinstance(name_or_cfg, dict):
        if 'type' not in name_or_cfg:
            raise ValueError(f'attention config {name_or_cfg!r} has no "type"')
        cfg = dict(name_or_cfg)
    else:
        key = str(name_or_cfg).lower().replace('-', '_')
        if key not in ATTENTIONS:
            raise ValueError(
                f'unknown attention {name_or_cfg!r}; known: {sorted(ATTENTIONS)} '
                f'(or pass a config dict with a registered "type")'
            )
        cfg = dict(ATTENTIONS[key])
    cfg.update(kwargs)
    return cfg


def build_attention(name_or_cfg: Union[str, dict], in_channels: int, **kwargs) -> nn.Module:
    """Build an attention module for ``in_channels`` channels.

    Example:
        >>> build_attention('ela_t', 64)
        >>> build_attention(dict(type='ELA', variant='S', shared=False), 256)
        >>> build_attention('eca', 512, kernel_size=3)
    """
    return MODELS.build(attention_cfg(name_or_cfg, in_channels=in_channels, **kwargs))
