"""Plugin-ready backbones: drop-in when off, attention in the right places when on."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from ela_mm import ELA, SE, AttnMobileNetV2, AttnResNet, PluginCSPDarknet, PluginResNetV1c

ELA_T_STAGES = [dict(cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))]


def _frozen(module):
    return all(not p.requires_grad for p in module.parameters()) and not module.training


# ------------------------------------------------------------------ CSPDarknet (YOLOX)
@pytest.mark.parametrize('cls_name,plugins', [('CSPDarknet', None), ('PluginCSPDarknet', None),
                                              ('PluginCSPDarknet', ELA_T_STAGES)])
def test_cspdarknet_upstream_behaviours(cls_name, plugins):
    """mmdet's CSPDarknet test cases, run on upstream and on the subclass."""
    from mmdet.models.backbones import CSPDarknet
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
        ('P6', 0.25, 128, [(1, 32, 32, 32), (1, 64, 16, 16), (1, 128, 8, 8), (1, 192, 4, 4),
                           (1, 256, 2, 2)])]:
        if plugins and arch == 'P6':
            continue  # 4 flags do not fit 5 stages: checked below
        if plugins and widen == 0.375:
            kw = dict(plugins=[dict(cfg=dict(type='ELA', variant='B'),
                                    stages=(False, True, True, True))])
            model = PluginCSPDarknet(arch=arch, widen_factor=widen,
                                     out_indices=range(1, 5), **kw)
        else:
            model = build(arch=arch, widen_factor=widen,
                          out_indices=range(1, len(outs) + 1))
        feats = model(torch.rand(1, 3, size, size))
        assert [tuple(f.shape) for f in feats] == outs


def test_cspdarknet_plugins_are_drop_in_for_upstream_checkpoints():
    from mmdet.models.backbones import CSPDarknet
    kw = dict(deepen_factor=0.33, widen_factor=0.25, use_depthwise=True)
    upstream = CSPDarknet(**kw).state_dict()
    plain = PluginCSPDarknet(**kw)
    assert list(plain.state_dict()) == list(upstream)
    assert plain.load_state_dict(upstream, strict=True)
    with_ela = PluginCSPDarknet(plugins=ELA_T_STAGES, **kw)
    result = with_ela.load_state_dict(upstream, strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all('.ela.' in k for k in result.missing_keys)
    elas = {n: m for n, m in with_ela.named_modules() if isinstance(m, ELA)}
    assert {n: m.in_channels for n, m in elas.items()} == {
        'stage2.ela': 64, 'stage3.ela': 128, 'stage4.ela': 256}
    assert all(m.variant == 'T' for m in elas.values())


def test_cspdarknet_plugin_errors():
    with pytest.raises(ValueError, match='4 stage flags, the backbone has 5 stages'):
        PluginCSPDarknet(arch='P6', plugins=ELA_T_STAGES)
    with pytest.raises(ValueError, match="already has a plugin named 'ela'"):
        PluginCSPDarknet(plugins=ELA_T_STAGES * 2, widen_factor=0.25)
    with pytest.raises(ValueError, match='num_groups=32 does not divide in_channels=48'):
        PluginCSPDarknet(widen_factor=0.375, plugins=[
            dict(cfg=dict(type='ELA', variant='T'), stages=(True, False, False, False))])


# ------------------------------------------------------------------ ResNetV1c (mmseg)
def test_seg_resnet_chains_plugins():
    """Two plugins at one position both run, in order (mmseg 1.2.2 runs only the last)."""
    from mmseg.models.backbones import ResNetV1c
    plugins = [dict(cfg=dict(type='SE'), stages=(False, False, False, True),
                    position='after_conv3'),
               dict(cfg=dict(type='ELA'), stages=(False, False, False, True),
                    position='after_conv3')]
    model = PluginResNetV1c(depth=50, plugins=plugins)
    model.eval()
    calls = []
    for m in model.modules():
        if isinstance(m, (SE, ELA)):
            m.register_forward_hook(lambda mod, inp, out: calls.append(
                (type(mod).__name__, inp[0].data_ptr(), out.data_ptr())))
    model(torch.rand(1, 3, 64, 64))
    assert [c[0] for c in calls] == ['SE', 'ELA'] * 3
    for se, ela in zip(calls[0::2], calls[1::2]):
        assert ela[1] == se[2], 'ELA must take the output of SE'
    assert list(PluginResNetV1c(depth=50).state_dict()) == list(
        ResNetV1c(depth=50).state_dict())


# ------------------------------------------------------------------ mmpretrain
@pytest.mark.parametrize('depth', [18, 50])
def test_attn_resnet(depth):
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    upstream, plain = ResNet(depth), AttnResNet(depth)
    upstream.eval(), plain.eval()  # (mmpretrain's train() returns None: no chaining)
    assert list(plain.state_dict()) == list(upstream.state_dict())
    plain.load_state_dict(upstream.state_dict())
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(plain(x), upstream(x))
    model = AttnResNet(depth, attention=dict(type='ELA', variant='B'),
                       attention_stages=(False, True, True, True))
    elas = [m for m in model.modules() if isinstance(m, ELA)]
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    assert len(elas) == sum(blocks[1:])
    widths = sorted({m.in_channels for m in elas})
    assert widths == ([128, 256, 512] if depth == 18 else [512, 1024, 2048])
    out = model(x)
    out[-1].sum().backward()
    assert all(m.conv.weight.grad is not None for m in elas)
    with pytest.raises(ValueError, match='attention_stages needs 4 flags'):
        AttnResNet(18, attention='ela', attention_stages=(True, ))


def test_attn_resnet_attention_sits_before_the_addition():
    """An attention that zeroes the residual branch turns every block into identity + ReLU."""
    from ela_mm.models.backbones.mmpretrain_backbones import AttnBasicBlock
    block = AttnBasicBlock(8, 8, attention=dict(type='SE'))
    block.eval()
    with torch.no_grad():
        block.attention.fc2.bias.fill_(-1e4)  # sigmoid -> 0
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_attn_mobilenet_v2():
    from mmpretrain.models.backbones import MobileNetV2
    upstream = MobileNetV2().state_dict()
    assert list(AttnMobileNetV2().state_dict()) == list(upstream)
    model = AttnMobileNetV2(attention=dict(type='ELA', variant='S'))
    res = model.load_state_dict(upstream, strict=False)
    assert res.unexpected_keys == [] and all('.attn.' in k for k in res.missing_keys)
    elas = [(n, m) for n, m in model.named_modules() if isinstance(m, ELA)]
    assert len(elas) == 17  # 1 + 2 + 3 + 4 + 3 + 3 + 1 inverted residuals
    # after the depthwise 3x3 (hidden width), before the 1x1 projection
    assert elas[0][0] == 'layer1.0.conv.attn' and elas[0][1].in_channels == 32
    assert elas[1][0] == 'layer2.0.conv.attn' and elas[1][1].in_channels == 96
    block = model.layer2[0].conv
    assert list(dict(block.named_children())) == ['0', '1', 'attn', '2']
    assert block[1].conv.groups == 96
    out = model(torch.rand(2, 3, 64, 64))
    assert out[-1].shape == (2, 1280, 2, 2)
