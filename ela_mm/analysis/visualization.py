"""What an ELA (or CA) layer attends to, as a picture: the map over the feature plane."""

import torch
import torch.nn as nn
from torch import Tensor


def strip_attention_map(module: nn.Module, x: Tensor) -> Tensor:
    """The (H, W) map ``mean_c a_h[c, :, None] * a_w[c, None, :]`` of a strip-attention module
    (anything with ``attend(z_h, z_w)``: ELA, CoordAtt) for the first sample of its input
    ``x`` (N, C, H, W): row h, column w is the gate the module applies at that position,
    averaged over channels."""
    with torch.no_grad():
        a_h, a_w = module.attend(x.mean(dim=3), x.mean(dim=2))
    return (a_h[0, :, :, None] * a_w[0, :, None, :]).mean(dim=0)
