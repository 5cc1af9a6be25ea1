"""ELA: Efficient Local Attention.

Wei Xu, Yi Wan. "ELA: Efficient Local Attention for Deep Convolutional Neural Networks",
arXiv:2403.01123, 2024. https://arxiv.org/abs/2403.01123

No official code exists; this module follows the PyTorch listing of the paper's Figure 4: ONE
1D conv and ONE GroupNorm applied to both strips (``shared=True``). ``shared=False`` gives each
direction its own, as the paper's equations write F_h and F_w. timm (>= 1.0.23) ships a different
design under the same name (``timm.layers.EfficientLocalAttn``): a conv and a norm per direction,
GroupNorm with one group, and a SiLU before the sigmoid; see docs/user_guides/attention_modules.md.

ELA pools ``x`` into two strips (mean over W and mean over H), runs each through the 1D conv
along its spatial axis, GroupNorm and a sigmoid, and gates ``x`` by both:
``y = x * sigmoid(GN(conv(mean_W x))) * sigmoid(GN(conv(mean_H x)))``. No channel reduction, no
1x1 convolution, no residual. :meth:`ELA.forward_reference` is that expression in plain PyTorch;
:meth:`ELA.forward` computes the same through the fused ops of :mod:`ela_mm.ops`.
"""

from typing import Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from ela_mm.ops import Path, dwconv_gn_sigmoid, select_path, strip_attention

from .utils import StripConv1d, check_divides, check_positive


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
        fused: ``True`` (default): :meth:`forward` runs the fused ops of :mod:`ela_mm.ops`
            (memory-lean pooling/gating, C++ kernels on CPU); ``False``: always
            :meth:`forward_reference`. Results agree to float rounding.
        lean: in training, keep for backward only what the layer before keeps when that is a
            normalisation or activation (:mod:`ela_mm.ops.recompute`: no full-size tensor of
            its own). Default True.

    A channel count that the conv groups or the GroupNorm groups do not divide raises a
    ``ValueError`` that names the count, the groups and the override to pass.

    Parameters: ``k * C * C / conv_groups + 2C`` when shared (ELA-T 7C, ELA-B 9C, ELA-S 42C,
    ELA-L 58C); twice that when not shared.
    """

    _abbr_ = 'ela'

    def __init__(
        self,
        in_channels: int,
        variant: str = 'B',
        kernel_size: Optional[int] = None,
        conv_groups: Optional[int] = None,
        num_groups: Optional[int] = None,
        shared: bool = True,
        fused: bool = True,
        lean: bool = True,
    ) -> None:
        super().__init__()
        key = str(variant).upper()
        if key not in ELA_VARIANTS:
            raise ValueError(
                f"ELA: unknown variant {variant!r}; choose one of 'T', 'B', 'S', 'L' "
                f'(case-insensitive), or pass kernel_size/conv_groups/num_groups'
            )
        spec = ELA_VARIANTS[key]
        name = f'ELA-{key}'
        check_positive(name, in_channels=in_channels)
        if kernel_size is None:
            kernel_size = spec.kernel_size
        check_positive(name, kernel_size=kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                f'{name}: kernel_size must be a positive odd number so that the '
                f"'same' padding k//2 keeps the strip length, got {kernel_size}"
            )
        if conv_groups is None:
            if spec.conv_groups_div is None:
                conv_groups = in_channels
            elif in_channels % spec.conv_groups_div:
                raise ValueError(
                    f'{name}: conv groups C/{spec.conv_groups_div} need in_channels divisible by '
                    f'{spec.conv_groups_div}, got {in_channels}. Pass conv_groups=<a divisor of '
                    f'{in_channels}> or choose variant T or B (depthwise conv).'
                )
            else:
                conv_groups = in_channels // spec.conv_groups_div
        check_positive(name, conv_groups=conv_groups)
        check_divides(conv_groups, in_channels, f'{name}: conv_groups', 'conv_groups')
        if num_groups is None:
            num_groups = spec.num_groups
        check_positive(name, num_groups=num_groups)
        check_divides(num_groups, in_channels, f'{name}: GroupNorm num_groups', 'num_groups')

        self.variant = key
        self.in_channels = in_channels
        self.kernel_size = kernel_size
        self.conv_groups = conv_groups
        self.num_groups = num_groups
        self.shared = shared
        self.fused = fused
        self.lean = lean

        def conv() -> nn.Conv1d:
            return StripConv1d(
                in_channels,
                in_channels,
                kernel_size,
                padding=kernel_size // 2,
                groups=conv_groups,
                bias=False,
            )

        if shared:
            self.conv = conv()
            self.gn = nn.GroupNorm(num_groups, in_channels)
        else:
            self.conv_h, self.conv_w = conv(), conv()
            self.gn_h = nn.GroupNorm(num_groups, in_channels)
            self.gn_w = nn.GroupNorm(num_groups, in_channels)

    def _directions(self) -> Tuple[Tuple[nn.Conv1d, nn.GroupNorm], ...]:
        """(conv, GroupNorm) for the H strip, then for the W strip."""
        if self.shared:
            return (self.conv, self.gn), (self.conv, self.gn)
        return (self.conv_h, self.gn_h), (self.conv_w, self.gn_w)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_scripting():  # TorchScript compiles the plain expression only
            return self.forward_reference(x)
        params = list(self.parameters())
        path = select_path(x, params, self.fused)
        if path is Path.REFERENCE:
            return self.forward_reference(x)
        return strip_attention(x, self.attend, params, path, self.lean, again=self.lean)

    def forward_reference(self, x: Tensor) -> Tensor:
        """What ELA computes, in plain PyTorch ops (the paper's Figure 4 listing)."""
        if hasattr(self, 'conv'):  # shared (hasattr, not self.shared: TorchScript resolves it)
            a_h = self.gn(self.conv(x.mean(dim=3)))  # (N, C, H)
            a_w = self.gn(self.conv(x.mean(dim=2)))  # (N, C, W)
        else:
            a_h = self.gn_h(self.conv_h(x.mean(dim=3)))
            a_w = self.gn_w(self.conv_w(x.mean(dim=2)))
        return x * a_h.sigmoid().unsqueeze(-1) * a_w.sigmoid().unsqueeze(-2)

    def attend(self, z_h: Tensor, z_w: Tensor) -> Tuple[Tensor, Tensor]:
        """The attention strips a_h (N, C, H) and a_w (N, C, W) from the strip means, through
        the strip operator (C++ kernels where they apply)."""
        (conv_h, gn_h), (conv_w, gn_w) = self._directions()
        return (
            dwconv_gn_sigmoid(z_h, conv_h.weight, self.conv_groups, gn_h),
            dwconv_gn_sigmoid(z_w, conv_w.weight, self.conv_groups, gn_w),
        )

    def extra_repr(self) -> str:
        return (
            f'variant={self.variant}, in_channels={self.in_channels}, '
            f'kernel_size={self.kernel_size}, conv_groups={self.conv_groups}, '
            f'num_groups={self.num_groups}, shared={self.shared}'
        )


class _FixedVariant(ELA):
    """:class:`ELA` with the variant fixed by the class (:attr:`VARIANT`); other arguments as
    ELA."""

    VARIANT = 'B'

    def __init__(self, in_channels: int, **kwargs) -> None:
        super().__init__(in_channels, variant=self.VARIANT, **kwargs)


@MODELS.register_module(name='ELA-T')
class ELA_T(_FixedVariant):
    """ELA-T: :class:`ELA` with ``variant='T'`` (k=5, depthwise conv, GroupNorm 32 groups)."""

    VARIANT = 'T'


@MODELS.register_module(name='ELA-B')
class ELA_B(_FixedVariant):
    """ELA-B: :class:`ELA` with ``variant='B'`` (k=7, depthwise conv, GroupNorm 16 groups)."""

    VARIANT = 'B'


@MODELS.register_module(name='ELA-S')
class ELA_S(_FixedVariant):
    """ELA-S: :class:`ELA` with ``variant='S'`` (k=5, C/8 conv groups, GroupNorm 16 groups)."""

    VARIANT = 'S'


@MODELS.register_module(name='ELA-L')
class ELA_L(_FixedVariant):
    """ELA-L: :class:`ELA` with ``variant='L'`` (k=7, C/8 conv groups, GroupNorm 16 groups)."""

    VARIANT = 'L'
