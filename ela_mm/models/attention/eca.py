"""ECA: Efficient Channel Attention.

Qilong Wang, Banggu Wu, Pengfei Zhu, Peihua Li, Wangmeng Zuo, Qinghua Hu. "ECA-Net: Efficient
Channel Attention for Deep Convolutional Neural Networks", CVPR 2020.
https://arxiv.org/abs/1910.03151

Follows the authors' ``eca_layer`` (github.com/BangguWu/ECANet): global average pool, a 1D conv
over the channel axis without bias, sigmoid. The kernel size comes from C by the paper's
adaptive rule (its Eq. 12, as timm's ``EcaModule`` does); the authors' layer takes a fixed
``k_size`` instead, which ``kernel_size=`` gives here.
"""

import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from .utils import channel_gate_forward, check_positive


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """The ECA paper's adaptive kernel: ``t = int(|log2(C) / gamma + b / gamma|)``, made odd."""
    t = int(abs(math.log2(channels) / gamma + b / gamma))
    return t if t % 2 else t + 1


@MODELS.register_module()
class ECA(nn.Module):
    """Efficient Channel Attention, an mmcv plugin layer.

    ``y = x * sigmoid(conv1d_k(avgpool(x)))``, the 1D conv running over the channel axis without
    bias. No dimensionality reduction; ``k`` parameters in all.

    Args:
        in_channels: channels C of the input.
        kernel_size: odd kernel k; ``None`` (default) picks it from C as the paper does
            (C=64 -> 3, 256 -> 5, 512 -> 5, 2048 -> 7).
        gamma, b: the paper's mapping constants (2 and 1).
        fused: ``True`` (default): in training, :meth:`forward` runs the custom autograd path
            of :mod:`ela_mm.ops.channel_gate` (the gate's small graph kept, x read once per pass);
            ``False``: always :meth:`forward_reference`. Results agree to float rounding.
        lean: on that path, keep for backward only what the layer before keeps when that is
            a normalisation or activation, and rebuild x from it in backward
            (:mod:`ela_mm.ops.recompute`: no full-size tensor of its own); ``False``: keep x.
            Default True.
    """

    _abbr_ = 'eca'

    def __init__(
        self,
        in_channels: int,
        kernel_size: Optional[int] = None,
        gamma: int = 2,
        b: int = 1,
        fused: bool = True,
        lean: bool = True,
    ) -> None:
        super().__init__()
        self.fused = fused
        self.lean = lean
        check_positive('ECA', in_channels=in_channels)
        if kernel_size is None:
            kernel_size = eca_kernel_size(in_channels, gamma, b)
        check_positive('ECA', kernel_size=kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f'ECA: kernel_size must be a positive odd number, got {kernel_size}')
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():  # TorchScript compiles the plain expression only
            return self.forward_reference(x)
        return channel_gate_forward(self, x)

    def gate(self, s: Tensor) -> Tensor:
        """The (N, C, 1, 1) gate of the pooled (N, C, 1, 1) input: a 1D conv over channels."""
        return self.conv(s.flatten(1).unsqueeze(1)).squeeze(1).sigmoid()[:, :, None, None]

    def forward_reference(self, x: Tensor) -> Tensor:
        """What ECA computes, in plain PyTorch ops."""
        return x * self.gate(x.mean(dim=(2, 3), keepdim=True))
