"""SE: Squeeze-and-Excitation.

Jie Hu, Li Shen, Gang Sun. "Squeeze-and-Excitation Networks", CVPR 2018.
https://arxiv.org/abs/1709.01507

Follows the paper and the authors' block (github.com/hujie-frank/SENet): global average pool,
FC C -> C/r with bias, ReLU, FC C/r -> C with bias, sigmoid; the FCs are 1x1 convs here, as in
timm's ``SEModule``. The squeeze width is ``max(1, C // r)`` so that narrow layers keep one unit.
"""

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from .utils import channel_gate_forward, check_positive


@MODELS.register_module()
class SE(nn.Module):
    """Squeeze-and-Excitation channel attention, an mmcv plugin layer.

    ``y = x * sigmoid(W2 relu(W1 avgpool(x)))`` with W1: C -> C/r and W2: C/r -> C (with biases).

    Args:
        in_channels: channels C of the input.
        reduction: r; the squeeze width is ``max(1, C // r)``. Default 16.
        fused: ``True`` (default): in training, :meth:`forward` runs the custom autograd path
            of :mod:`ela_mm.ops.channel_gate` (the gate's small graph kept, x read once per pass);
            ``False``: always :meth:`forward_reference`. Results agree to float rounding.
        lean: on that path, keep for backward only what the layer before keeps when that is
            a normalisation or activation, and rebuild x from it in backward
            (:mod:`ela_mm.ops.recompute`: no full-size tensor of its own); ``False``: keep x.
            Default True.

    Parameters: ``2 * C * (C // r) + C // r + C``.
    """

    _abbr_ = 'se'

    def __init__(
        self,
        in_channels: int,
        reduction: int = 16,
        fused: bool = True,
        lean: bool = True,
    ) -> None:
        super().__init__()
        self.fused = fused
        self.lean = lean
        check_positive('SE', in_channels=in_channels, reduction=reduction)
        squeeze = max(1, in_channels // reduction)
        self.fc1 = nn.Conv2d(in_channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, in_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():  # TorchScript compiles the plain expression only
            return self.forward_reference(x)
        return channel_gate_forward(self, x)

    def gate(self, s: Tensor) -> Tensor:
        """The (N, C, 1, 1) gate of the pooled (N, C, 1, 1) input."""
        return self.fc2(self.fc1(s).relu()).sigmoid()

    def forward_reference(self, x: Tensor) -> Tensor:
        """What SE computes, in plain PyTorch ops."""
        return x * self.gate(x.mean(dim=(2, 3), keepdim=True))
