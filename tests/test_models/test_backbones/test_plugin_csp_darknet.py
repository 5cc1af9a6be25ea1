"""PluginCSPDarknet: drop-in for mmdet's CSPDarknet when off, plugins after the chosen stages."""

import pytest
import torch
from mmdet.models.backbones import CSPDarknet
from mmdet.models.layers import CSPLayer
from torch.nn.modules.batchnorm import _BatchNorm

from ela_mm import ELA, PluginCSPDarknet

ELA_T_STAGES = [dict(cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))]


def _frozen(module):
    return all(not p.requires_grad for p in module.parameters()) and not module.training


@pytest.mark.parametrize(
    'cls_name,plugins',
    [('CSPDarknet', None), ('PluginCSPDarknet', None), ('PluginCSPDarknet', ELA_T_STAGES)],
)
def test_cspdarknet_upstream_behaviours(cls_name, plugins):
    """mmdet's CSPDarknet test cases, run on upstream and on the subclass."""
    if cls_name == 'CSPDarknet':
        build = CSPDarknet
    else:

        def build(**kw):
            return PluginCSPDarknet(plugins=plugins, **kw)

    with pytest.raises(ValueError):
        build(frozen_stages=6)
    with pytest.raises(AssertionError):
        build(out_indices=[6])
    model = build(frozen_stages=2, widen_factor=0.25)
    model.train()
    for i in range(3):  # stem, stage1, stage2
        assert _frozen(getattr(model, model.layers[i]))
    assert getattr(model, model.layers[3]).training
    model = build(norm_eval=True, widen_factor=0.25)
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    for arch, widen, size, outs in [
        ('P5', 0.25, 64, [(1, 32, 16, 16), (1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2)]),
        ('P5', 0.375, 64, [(1, 48, 16, 16), (1, 96, 8, 8), (1, 192, 4, 4), (1, 384, 2, 2)]),
        (
            'P6',
            0.25,
            128,
            [(1, 32, 32, 32), (1, 64, 16, 16), (1, 128, 8, 8), (1, 192, 4, 4), (1, 256, 2, 2)],
        ),
    ]:
        if plugins and arch == 'P6':
            continue  # 4 flags do not fit 5 stages: checked below
        if plugins and widen == 0.375:
            kw = dict(
                plugins=[dict(cfg=dict(type='ELA', variant='B'), stages=(False, True, True, True))]
            )
            model = PluginCSPDarknet(arch=arch, widen_factor=widen, out_indices=range(1, 5), **kw)
        else:
            model = build(arch=arch, widen_factor=widen, out_indices=range(1, len(outs) + 1))
        feats = model(torch.rand(1, 3, size, size))
        assert [tuple(f.shape) for f in feats] == outs


def test_cspdarknet_plugins_are_drop_in_for_upstream_checkpoints():
    kw = dict(deepen_factor=0.33, widen_factor=0.25, use_depthwise=True)
    upstream = CSPDarknet(**kw).state_dict()
    plain = PluginCSPDarknet(**kw)
    assert list(plain.state_dict()) == list(upstream)
    res = plain.load_state_dict(upstream, strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    with_ela = PluginCSPDarknet(plugins=ELA_T_STAGES, **kw)
    result = with_ela.load_state_dict(upstream, strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == sorted(
        f'stage{i}.ela.{p}' for i in (2, 3, 4) for p in ('conv.weight', 'gn.weight', 'gn.bias')
    )
    elas = {n: m for n, m in with_ela.named_modules() if isinstance(m, ELA)}
    assert {n: m.in_channels for n, m in elas.items()} == {
        'stage2.ela': 64,
        'stage3.ela': 128,
        'stage4.ela': 256,
    }
    assert all(m.variant == 'T' for m in elas.values())


def test_plugin_takes_the_stage_output(io_of):
    """Each ELA sits after its stage's CSPLayer: its input is that layer's output."""
    model = PluginCSPDarknet(widen_factor=0.25, plugins=ELA_T_STAGES)
    model.eval()  # (mmdet's train() returns None: no chaining)
    pairs = io_of(model, torch.rand(1, 3, 64, 64), CSPLayer, ELA)
    assert len(pairs) == 3 and all(a is b for a, b in pairs)


def test_cspdarknet_plugin_errors():
    with pytest.raises(ValueError, match='4 stage flags, the backbone has 5 stages'):
        PluginCSPDarknet(arch='P6', plugins=ELA_T_STAGES)
    with pytest.raises(ValueError, match="already has a plugin named 'ela'"):
        PluginCSPDarknet(plugins=ELA_T_STAGES * 2, widen_factor=0.25)
    with pytest.raises(ValueError, match='num_groups=32 does not divide in_channels=48'):
        PluginCSPDarknet(
            widen_factor=0.375,
            plugins=[dict(cfg=dict(type='ELA', variant='T'), stages=(True, False, False, False))],
        )
