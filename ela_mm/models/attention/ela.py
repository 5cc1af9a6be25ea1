"""ELA: Efficient Local Attention.

Wei Xu, Yi Wan. "ELA: Efficient Local Attention for Deep Convolutional Neural Networks",
arXiv:2403.01123, 2024.

ELA pools ``x`` into two strips (mean over W and mean over H), runs each through a 1D convolution
along its spatial axis, GroupNorm and a sigmoid, and gates ``x`` by both:
``y = x * sigmoid(GN(conv(mean_W x))) * sigmoid(GN(conv(mean_H x)))``. No channel reduction, no
1x1 convolution, no residual.
"""
from typing import Dict, NamedTuple, Optional, Tuple

import torch

import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS
from torch import Tensor

from ela_mm.ops import dwconv_gn_sigmoid, is_tracing, strip_attention
from .utils import check_divides


class ELAVariant(NamedTuple):
    """Settings of one ELA variant. ``conv_groups_div``: conv groups = C // conv_groups_div."""
    kernel_size: int
    conv_groups_div: Optional[int]  # None: depthwise (groups = C)
    num_groups: int


#: The paper's four settings (Section 3.3): kernel size, conv groups, GroupNorm groups.
ELA_VARIANTS: Dict[str, ELAVariant] = {
    'T': ELAVariant(kernel_size=5, conv_groups_div=None, num_groups=32),
    'B': ELAVariant(kernel_size=7, conv_groups_div=None, num_groups=16),
    'S': ELAVariant(kernel_size=5, conv_groups_div=8, num_groups=16),
    'L': ELAVariant(kernel_size=7, conv_groups_div=8, num_groups=16),
}


@MODELS.register_module()
class ELA(nn.Module):
    """Efficient Local Attention (ELA), an mmcv plugin layer and a plain ``nn.Module``.

    Args:
        in_channels: channels C of the input (the mmcv plugin contract passes it).
        variant: ``'T'``, ``'B'``, ``'S'`` or ``'L'`` (case-insensitive): ELA-T (k=5,
            depthwise conv, GN 32 groups), ELA-B (k=7, depthwise, GN 16), ELA-S (k=5, C/8 conv
            groups, GN 16), ELA-L (k=7, C/8 conv groups, GN 16). Default ``'B'``.
        kernel_size: odd 1D conv kernel; overrides the variant.
        conv_groups: conv groups (must divide C); overrides the variant.
        num_groups: GroupNorm groups (must divide C); overrides the variant.
        shared: ``True`` (default) applies ONE conv and ONE GroupNorm to both strips, as the
            paper's Figure 4 listing does (and as its reported numbers were obtained);
            ``False`` gives each direction its own conv and GroupNorm, as the paper's equations
            write F_h and F_w.
        fused: use the memory-lean fused pooling/gating (:func:`ela_mm.ops.strip_attention`);
            ``False`` runs the plain reference expression. Results agree to float rounding.

    A channel count that the conv groups or the GroupNorm groups do not divide raises a
    ``ValueError`` that names the count, the groups and the override to pass.

    Parameters: ``k * C * C / conv_groups + 2C`` when shared (ELA-T 7C, ELA-B 9C, ELA-S 42C,
    ELA-L 58C); twice that when not shared.
    """

    _abbr_ = 'ela'

    def __init__(self,
                 in_channels: int,
                 variant: str = 'B',
                 kernel_size: Optional[int] = None,
                 conv_groups: Optional[int] = None,
                 num_groups: Optional[int] = None,
                 shared: bool = True,
                 fused: bool = True) -> None:
        super().__init__()
        key = str(variant).upper()
        if key not in ELA_VARIANTS:
            raise ValueError(f"ELA: unknown variant {variant!r}; choose one of 'T', 'B', 'S', 'L' "
                             f'(case-insensitive), or pass kernel_size/conv_groups/num_groups')
        spec = ELA_VARIANTS[key]
        name = f'ELA-{key}'
        if in_channels < 1:
            raise ValueError(f'{name}: in_channels must be positive, got {in_channels}')
        if kernel_size is None:
            kernel_size = spec.kernel_size
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'{name}: kernel_size must be a positive odd number so that the '
                             f"'same' padding k//2 keeps the strip length, got {kernel_size}")
        if conv_groups is None:
            if spec.conv_groups_div is None:
                conv_groups = in_channels
            elif in_channels % spec.conv_groups_div:
                raise ValueError(
                    f'{name}: conv groups C/{spec.conv_groups_div} need in_channels divisible by '
                    f'{spec.conv_groups_div}, got {in_channels}. Pass conv_groups=<a divisor of '
                    f'{in_channels}> or choose variant T or B (depthwise conv).')
            else:
                conv_groups = in_channels // spec.conv_groups_div
        check_divides(conv_groups, in_channels, f'{name}: conv_groups', 'conv_groups')
        if num_groups is None:
            num_groups = spec.num_groups
        check_divides(num_groups, in_channels, f'{name}: GroupNorm num_groups', 'num_groups')

        self.variant = key
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.conv_groups = conv_groups
        self.num_groups = num_groups
        self.shared = shared
        self.fused = fused

        def conv() -> nn.Conv1d:
            return nn.Conv1d(in_channels, in_channels, kernel_size, padding=kernel_size // 2,
                             groups=conv_groups, bias=False)

        if shared:
            self.conv = conv()
            self.gn = nn.GroupNorm(num_groups, in_channels)
        else:
            self.conv_h, self.conv_w = conv(), conv()
            self.gn_h = nn.GroupNorm(num_groups, in_channels)
            self.gn_w = nn.GroupNorm(num_groups, in_channels)

    def _kernel_branch(self, z: Tensor, conv: nn.Conv1d, gn: nn.GroupNorm) -> Optional[Tensor]:
        """sigmoid(GN(conv(z))) by the C++ strip operator (forward and backward) where it
        applies (fused, depthwise conv, CPU, ...); ``None`` otherwise."""
        if self.fused and conv.groups == conv.in_channels:
            return dwconv_gn_sigmoid(z, conv.weight, gn)
        return None

    @staticmethod
    def _branch(z: Tensor, conv: nn.Conv1d, gn: nn.GroupNorm) -> Tensor:
        """sigmoid(GN(conv(z))) for strips z (N, C, L) with PyTorch ops; the 1D conv runs as a
        (k x 1) 2D conv: same result, and several times faster for depthwise kernels on CPU."""
        z = F.conv2d(z.unsqueeze(-1), conv.weight.unsqueeze(-1), padding=(conv.padding[0], 0),
                     groups=conv.groups).squeeze(-1)
        return gn(z).sigmoid()

    def attend(self, z_h: Tensor, z_w: Tensor) -> Tuple[Tensor, Tensor]:
        """Attention strips a_h (N, C, H) and a_w (N, C, W) from the strip means."""
        pairs = (((z_h, self.conv, self.gn), (z_w, self.conv, self.gn)) if self.shared else
                 ((z_h, self.conv_h, self.gn_h), (z_w, self.conv_w, self.gn_w)))
        a_h = self._kernel_branch(*pairs[0])
        if a_h is not None:  # the C++ operator: one call per strip costs less than a cat
            return a_h, self._kernel_branch(*pairs[1])
        # PyTorch ops, square input, shared: one call for both strips (GN is per sample); not
        # when tracing, so that a graph traced on a square example also runs on other shapes
        if self.shared and z_h.shape == z_w.shape and not is_tracing():
            return self._branch(torch.cat([z_h, z_w]), self.conv, self.gn).chunk(2)
        return self._branch(*pairs[0]), self._branch(*pairs[1])

    def forward(self, x: Tensor) -> Tensor:
        return strip_attention(x, self.attend, list(self.parameters()), fused=self.fused)

    def extra_repr(self) -> str:
        return (f'variant={self.variant}, in_channels={self.in_channels}, '
                f'kernel_size={self.kernel_size}, conv_groups={self.conv_groups}, '
                f'num_groups={self.num_groups}, shared={self.shared}')


def _variant_alias(key: str):

    def __init__(self, in_channels: int, **kwargs) -> None:
        ELA.__init__(self, in_channels, variant=key, **kwargs)

    cls = type(f'ELA_{key}', (ELA,), {
        '__init__': __init__,
        '__doc__': f'ELA-{key}: :class:`ELA` with ``variant={key!r}``; other arguments as ELA.',
        '__module__': __name__,
    })
    return MODELS.register_module(name=f'ELA-{key}', module=cls)


ELA_T, ELA_B, ELA_S, ELA_L = (_variant_alias(k) for k in 'TBSL')
