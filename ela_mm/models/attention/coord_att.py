"""CA: Coordinate Attention.

Qibin Hou, Daquan Zhou, Jiashi Feng. "Coordinate Attention for Efficient Mobile Network Design",
CVPR 2021. https://arxiv.org/abs/2103.02907

Follows the authors' reference implementation (github.com/houqb/CoordAttention, ``coordatt.py``):
strip means concatenated along the spatial axis, a shared 1x1 conv C -> mip with bias,
BatchNorm, h-swish, then one 1x1 conv mip -> C per direction with bias, sigmoid.
``mip = max(8, C // reduction)`` as there. :meth:`CoordAtt.forward_reference` is that expression;
:meth:`CoordAtt.forward` computes the same through the fused ops of :mod:`ela_mm.ops`.
"""

from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from ela_mm.ops import Path, select_path, strip_attention

from .utils import PointwiseConv2d, check_positive


@MODELS.register_module()
class CoordAtt(nn.Module):
    """Coordinate Attention, an mmcv plugin layer.

    Args:
        in_channels: channels C of the input.
        reduction: r; the bottleneck width is ``mip = max(min_channels, C // r)``. Default 32.
        min_channels: lower bound of mip. Default 8.
        fused: ``True`` (default): :meth:`forward` runs the same fused pooling/gating as
            :class:`ELA`, so that comparisons time both modules through their fastest path;
            ``False``: always :meth:`forward_reference`.
        lean: in training, keep for backward only what the layer before keeps when that is a
            normalisation or activation (:mod:`ela_mm.ops.recompute`), as ELA does. Default
            True.

    Parameters: ``C*mip + mip`` (conv1) ``+ 2*mip`` (BN) ``+ 2*(mip*C + C)`` (conv_h, conv_w).
    """

    _abbr_ = 'coord_att'

    def __init__(
        self,
        in_channels: int,
        reduction: int = 32,
        min_channels: int = 8,
        fused: bool = True,
        lean: bool = True,
    ) -> None:
        super().__init__()
        check_positive('CoordAtt', in_channels=in_channels, reduction=reduction)
        mip = max(min_channels, in_channels // reduction)
        self.fused = fused
        self.lean = lean
        self.conv1 = PointwiseConv2d(in_channels, mip, 1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.conv_h = PointwiseConv2d(mip, in_channels, 1)
        self.conv_w = PointwiseConv2d(mip, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():  # TorchScript compiles the plain expression only
            return self.forward_reference(x)
        params = list(self.parameters())
        path = select_path(x, params, self.fused)
        if path is Path.REFERENCE:
            return self.forward_reference(x)
        return strip_attention(x, self.attend, params, path, self.lean)

    def forward_reference(self, x: Tensor) -> Tensor:
        """What CA computes, in plain PyTorch ops."""
        a_h, a_w = self.attend(x.mean(dim=3), x.mean(dim=2))
        return x * a_h.unsqueeze(-1) * a_w.unsqueeze(-2)

    def attend(self, z_h: Tensor, z_w: Tensor) -> Tuple[Tensor, Tensor]:
        """The attention strips a_h (N, C, H) and a_w (N, C, W) from the strip means."""
        h = z_h.shape[-1]
        y = torch.cat([z_h, z_w], dim=2).unsqueeze(-1)  # (N, C, H + W, 1)
        y = F.hardswish(self.bn1(self.conv1(y)))
        a_h = self.conv_h(y[:, :, :h]).sigmoid().squeeze(-1)
        a_w = self.conv_w(y[:, :, h:]).sigmoid().squeeze(-1)
        return a_h, a_w
