"""CA: Coordinate Attention.

Qibin Hou, Daquan Zhou, Jiashi Feng. "Coordinate Attention for Efficient Mobile Network Design",
CVPR 2021.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from ela_mm.ops import strip_attention


@MODELS.register_module()
class CoordAtt(nn.Module):
    """Coordinate Attention, an mmcv plugin layer.

    Strip means along W and H, concatenated along the spatial axis -> 1x1 conv C -> mip -> BN ->
    h-swish -> split -> a 1x1 conv mip -> C per direction -> sigmoid -> ``y = x * a_h * a_w``.

    Args:
        in_channels: channels C of the input.
        reduction: r; ``mip = max(min_channels, C // r)``. Default 32.
        min_channels: lower bound of mip. Default 8.
        fused: use the same fused pooling/gating as :class:`ELA`
            (:func:`ela_mm.ops.strip_attention`), so that comparisons time both modules through
            their fastest path. ``False``: the plain expression.

    Parameters: ``C*mip + mip`` (conv1) ``+ 2*mip`` (BN) ``+ 2*(mip*C + C)`` (conv_h, conv_w).
    """

    _abbr_ = 'coord_att'

    def __init__(self, in_channels: int, reduction: int = 32, min_channels: int = 8,
                 fused: bool = True) -> None:
        super().__init__()
        if in_channels < 1 or reduction < 1:
            raise ValueError(f'CoordAtt: in_channels and reduction must be positive, got '
                             f'in_channels={in_channels}, reduction={reduction}')
        mip = max(min_channels, in_channels // reduction)
        self.fused = fused
        self.conv1 = nn.Conv2d(in_channels, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = nn.Conv2d(mip, in_channels, 1)
        self.conv_w = nn.Conv2d(mip, in_channels, 1)

    def attend(self, z_h: Tensor, z_w: Tensor) -> Tuple[Tensor, Tensor]:
        """Attention strips a_h (N, C, H) and a_w (N, C, W) from the strip means."""
        h = z_h.shape[-1]
        y = torch.cat([z_h, z_w], dim=2).unsqueeze(-1)  # (N, C, H + W, 1)
        y = F.hardswish(self.bn1(self.conv1(y)))
        a_h = self.conv_h(y[:, :, :h]).sigmoid().squeeze(-1)
        a_w = self.conv_w(y[:, :, h:]).sigmoid().squeeze(-1)
        return a_h, a_w

    def forward(self, x: Tensor) -> Tensor:
        return strip_attention(x, self.attend, list(self.parameters()), fused=self.fused)
