"""CBAM: Convolutional Block Attention Module.

Sanghyun Woo, Jongchan Park, Joon-Young Lee, In So Kweon. "CBAM: Convolutional Block Attention
Module", ECCV 2018. https://arxiv.org/abs/1807.06521

Follows the paper's equations: channel attention from average- and max-pooled descriptors
through one shared MLP (with biases), summed, sigmoid; then spatial attention
``sigmoid(conv7x7([mean_c; max_c]))`` with a conv without bias and WITHOUT BatchNorm. The
authors' code (github.com/Jongchan/attention-module) and timm's ``CbamModule`` put a BatchNorm
after that conv; this module keeps the paper's form (no extra parameters, nothing to update in
eval).
"""

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from ela_mm.ops import Path, cbam_gates, select_path

from .utils import check_positive


@MODELS.register_module()
class CBAM(nn.Module):
    """Convolutional Block Attention Module, an mmcv plugin layer.

    Channel attention: average- and max-pooled descriptors through one shared MLP
    (C -> C/r -> C, ReLU), summed, sigmoid. Then spatial attention: the channel-wise mean and max
    maps -> k x k conv (2 -> 1, no bias) -> sigmoid.

    Args:
        in_channels: channels C of the input.
        reduction: r of the channel MLP; hidden width ``max(1, C // r)``. Default 16.
        spatial_kernel: odd kernel of the spatial conv. Default 7.
        fused: ``True`` (default): in training, :meth:`forward` runs the custom autograd path
            of :mod:`ela_mm.ops.cbam_gates` (the gate's small graph kept, x read once per pass);
            ``False``: always :meth:`forward_reference`. Results agree to float rounding.
        lean: on that path, keep for backward only what the layer before keeps when that is
            a normalisation or activation, and rebuild x from it in backward
            (:mod:`ela_mm.ops.recompute`: no full-size tensor of its own); ``False``: keep x.
            Default True.

    Parameters: ``2 * C * (C // r) + C // r + C + 2 * k * k``.
    """

    _abbr_ = 'cbam'

    def __init__(
        self,
        in_channels: int,
        reduction: int = 16,
        spatial_kernel: int = 7,
        fused: bool = True,
        lean: bool = True,
    ) -> None:
        super().__init__()
        self.fused = fused
        self.lean = lean
        check_positive('CBAM', in_channels=in_channels, reduction=reduction)
        if spatial_kernel < 1 or spatial_kernel % 2 == 0:
            raise ValueError(
                f'CBAM: spatial_kernel must be a positive odd number, got {spatial_kernel}'
            )
        hidden = max(1, in_channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, in_channels, 1),
        )
        self.spatial = nn.Conv2d(2, 1, spatial_kernel, padding=spatial_kernel // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():  # TorchScript compiles the plain expression only
            return self.forward_reference(x)
        params = list(self.parameters())
        if select_path(x, params, self.fused) is Path.FUSED:
            return cbam_gates(x, self.channel_gate, self.spatial_gate, params, self.lean)
        return self.forward_reference(x)

    def channel_gate(self, avg: Tensor, mx: Tensor) -> Tensor:
        """The (N, C, 1, 1) gate of the average- and max-pooled (N, C, 1, 1) descriptors."""
        return (self.mlp(avg) + self.mlp(mx)).sigmoid()

    def spatial_gate(self, maps: Tensor) -> Tensor:
        """The (N, 1, H, W) gate of the channel-wise [mean; max] maps (N, 2, H, W)."""
        return self.spatial(maps).sigmoid()

    def forward_reference(self, x: Tensor) -> Tensor:
        """What CBAM computes, in plain PyTorch ops."""
        x = x * self.channel_gate(
            x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
        )
        s = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * self.spatial_gate(s)
