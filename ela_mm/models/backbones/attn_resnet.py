"""mmpretrain's ResNet with an attention module at the end of every residual branch."""

from typing import Optional, Sequence

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmpretrain.models.backbones import ResNet
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck
from mmpretrain.registry import MODELS
from torch import Tensor

from ..attention import build_attention
from .utils import check_stages


class _AttnBlock:
    """Residual block whose residual branch ends in an attention module, before the addition
    (where SE, CA and ELA go). ``_branch`` names the branch's layers in order."""

    _branch: Sequence[str] = ()
    attention: Optional[nn.Module]

    def forward(self, x: Tensor) -> Tensor:

        def inner(x: Tensor) -> Tensor:
            out = x
            for name in self._branch:
                out = getattr(self, name)(out)
            if self.attention is not None:
                out = self.attention(out)
            identity = x if self.downsample is None else self.downsample(x)
            return self.drop_path(out) + identity

        out = (
            cp.checkpoint(inner, x, use_reentrant=False)
            if self.with_cp and x.requires_grad
            else inner(x)
        )
        return self.relu(out)


class AttnBasicBlock(_AttnBlock, BasicBlock):
    """mmpretrain ``BasicBlock`` + ``attention`` (a config or short name, or None) after norm2."""

    _branch = ('conv1', 'norm1', 'relu', 'conv2', 'norm2')

    def __init__(self, *args, attention=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attention = (
            None if attention is None else build_attention(attention, self.out_channels)
        )


class AttnBottleneck(_AttnBlock, Bottleneck):
    """mmpretrain ``Bottleneck`` + ``attention`` after norm3 (mmdet's ``after_conv3``)."""

    _branch = ('conv1', 'norm1', 'relu', 'conv2', 'norm2', 'relu', 'conv3', 'norm3')

    def __init__(self, *args, attention=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.attention = (
            None if attention is None else build_attention(attention, self.out_channels)
        )


@MODELS.register_module()
class AttnResNet(ResNet):
    """:class:`mmpretrain.models.ResNet` (18 to 152) with attention in each residual block.

    Args:
        attention: attention config (``dict(type='ELA', variant='B')``) or short name
            (``'ela_s'``, ``'se'``, see ``ela_mm.ATTENTIONS``), built with the block's output
            channels and placed at the end of the residual branch, before the addition. ``None``:
            exactly ``ResNet`` (same modules and state-dict keys).
        attention_stages: one flag per stage, default all stages.
        **kwargs: as ``ResNet``.
    """

    arch_settings = {
        depth: (AttnBasicBlock if block is BasicBlock else AttnBottleneck, blocks)
        for depth, (block, blocks) in ResNet.arch_settings.items()
    }

    def __init__(
        self,
        depth: int,
        attention=None,
        attention_stages: Optional[Sequence[bool]] = None,
        **kwargs,
    ) -> None:
        self._attention = attention
        self._attention_stages = check_stages(
            attention_stages, kwargs.get('num_stages', 4), 'AttnResNet'
        )
        super().__init__(depth, **kwargs)

    def make_res_layer(self, **kwargs) -> nn.Module:
        stage = len(self.res_layers)  # ResNet.__init__ appends each stage's name after building
        if self._attention is not None and self._attention_stages[stage]:
            kwargs['attention'] = self._attention
        return super().make_res_layer(**kwargs)
