"""mmpretrain's MobileNetV2 with an attention module after the depthwise 3x3 of every inverted
residual."""

from collections import OrderedDict
from typing import Optional, Sequence

import torch.nn as nn
from mmpretrain.models.backbones import MobileNetV2
from mmpretrain.registry import MODELS

from ..attention import build_attention
from .utils import check_stages


@MODELS.register_module()
class AttnMobileNetV2(MobileNetV2):
    """:class:`mmpretrain.models.MobileNetV2` with attention after the depthwise 3x3 of each
    inverted residual (where Coordinate Attention puts it).

    Args:
        attention: attention config or short name, built with the block's hidden width. It is
            inserted into ``block.conv`` under the name ``attn``; the other layers keep their
            upstream keys (``conv.0``, ``conv.1``, ...), so upstream checkpoints load with only the
            attention keys missing. ``None``: exactly ``MobileNetV2``.
        attention_stages: one flag per stage (7), default all.
        **kwargs: as ``MobileNetV2``.
    """

    def __init__(
        self, attention=None, attention_stages: Optional[Sequence[bool]] = None, **kwargs
    ) -> None:
        self._attention = attention
        self._attention_stages = check_stages(
            attention_stages, len(self.arch_settings), 'AttnMobileNetV2'
        )
        self._stage = 0
        super().__init__(**kwargs)

    def make_layer(self, out_channels, num_blocks, stride, expand_ratio) -> nn.Sequential:
        layer = super().make_layer(out_channels, num_blocks, stride, expand_ratio)
        stage, self._stage = self._stage, self._stage + 1
        if self._attention is None or not self._attention_stages[stage]:
            return layer
        for block in layer:
            names = [str(i) for i in range(len(block.conv))]
            dw = len(names) - 2  # expand 1x1 (if any), depthwise 3x3, project 1x1
            layers = list(block.conv)
            hidden = layers[dw].out_channels
            block.conv = nn.Sequential(
                OrderedDict(
                    list(zip(names[: dw + 1], layers[: dw + 1]))
                    + [('attn', build_attention(self._attention, hidden))]
                    + list(zip(names[dw + 1 :], layers[dw + 1 :]))
                )
            )
        return layer
