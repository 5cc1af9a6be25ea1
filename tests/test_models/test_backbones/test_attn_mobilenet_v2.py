"""AttnMobileNetV2: attention after the depthwise 3x3 of every inverted residual."""

import torch
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones import MobileNetV2

from ela_mm import ELA, AttnMobileNetV2


def test_attn_mobilenet_v2():
    upstream = MobileNetV2().state_dict()
    assert list(AttnMobileNetV2().state_dict()) == list(upstream)
    model = AttnMobileNetV2(attention=dict(type='ELA', variant='S'))
    res = model.load_state_dict(upstream, strict=False)
    assert res.unexpected_keys == [] and res.missing_keys
    assert all('.attn.' in k for k in res.missing_keys)
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


def test_attention_takes_the_depthwise_output(io_of):
    model = AttnMobileNetV2(attention='ela_s')
    model.eval()  # (mmpretrain's train() returns None: no chaining)
    pairs = io_of(model, torch.rand(1, 3, 64, 64), ConvModule, ELA)
    assert len(pairs) == 17 and all(a is b for a, b in pairs)
    for name, m in model.named_modules():  # the module before each attention is depthwise
        if isinstance(m, ELA):
            seq = model.get_submodule(name.rsplit('.', 1)[0])
            names = list(dict(seq.named_children()))
            dw = seq[int(names[names.index('attn') - 1])]
            assert dw.conv.groups == dw.conv.in_channels == m.in_channels
