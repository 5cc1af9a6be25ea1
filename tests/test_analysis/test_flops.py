"""FLOP counting that counts attention's own work: exact against hand-derived formulas."""

import os.path as osp

import pytest
import torch

from ela_mm import ELA
from ela_mm.analysis.flops import count_flops
from ela_mm.utils.config import build_model, count_params, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def ela_ops(C, H, W, k, groups, shared=True):
    """Hand-derived cost of one ELA module on a (1, C, H, W) input (get_model_flops units):
    conv MACs k*C*(C/g) per strip position; GroupNorm 5 per element (mmengine); strip means
    C*H*W each (input size); sigmoid one per strip element; two gating products C*H*W each."""
    macs = k * C * (C // groups) * (H + W) + 5 * C * (H + W)
    elementwise = 2 * C * H * W + C * (H + W) + 2 * C * H * W
    return macs, elementwise


@pytest.mark.parametrize(
    'variant,shape', [('B', (64, 9, 13)), ('T', (64, 8, 8)), ('S', (64, 7, 5)), ('L', (32, 6, 6))]
)
def test_ela_flops_match_formula(variant, shape):
    C, H, W = shape
    m = ELA(C, variant)
    m.eval()
    got = count_flops(m, (torch.rand(1, C, H, W),))
    macs, elementwise = ela_ops(C, H, W, m.kernel_size, m.conv_groups)
    assert got == dict(macs=macs, elementwise=elementwise, total=macs + elementwise)


def test_attention_cost_in_a_whole_model_is_exactly_its_modules():
    """YOLOX-Nano + ELA-T minus plain YOLOX-Nano: the three ELA modules' formulas, at the
    stage sizes of a 64x64 input (strides 8, 16, 32), and 7C parameters each."""
    plain = build_model(
        load_config(osp.join(ROOT, 'configs/yolox/yolox_nano_8xb8-300e_voc0712.py'))
    )
    ela = build_model(
        load_config(osp.join(ROOT, 'configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py'))
    )
    x = (torch.rand(1, 3, 64, 64),)
    plain.eval(), ela.eval()
    with torch.no_grad():
        a, b = count_flops(plain, x), count_flops(ela, x)
    stages = [(64, 8), (128, 4), (256, 2)]
    macs = sum(ela_ops(C, s, s, 5, C)[0] for C, s in stages)
    elementwise = sum(ela_ops(C, s, s, 5, C)[1] for C, s in stages)
    assert b['macs'] - a['macs'] == macs
    assert b['elementwise'] - a['elementwise'] == elementwise
    assert count_params(ela) - count_params(plain) == 7 * (64 + 128 + 256)


def test_a_size_the_model_cannot_take_is_named_with_one_it_can():
    """100 x 75 does not line up in YOLOX's feature pyramid: one sentence with the size and a
    size that works, instead of a tensor-size traceback from inside the neck."""
    from ela_mm.analysis.flops import model_cost

    cfg = load_config(osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py'))
    with pytest.raises(ValueError, match=r'^input 100 x 75 does not fit YOLOX: .*--shape 128 96$'):
        model_cost(cfg, (100, 75))
    assert model_cost(cfg, (128, 96))['shape'] == (128, 96)
