"""PluginResNetV1c: mmseg's ResNetV1c whose plugins at one position chain."""

import pytest
import torch
import torch.nn as nn
from mmseg.models.backbones import ResNetV1c

from ela_mm import ELA, SE, PluginResNetV1c

ELA_ALL = [
    dict(cfg=dict(type='ELA', variant='B'), stages=(True, True, True, True), position='after_conv3')
]


def test_chains_plugins():
    """Two plugins at one position both run, in order (mmseg 1.2.2 runs only the last)."""
    plugins = [
        dict(cfg=dict(type='SE'), stages=(False, False, False, True), position='after_conv3'),
        dict(cfg=dict(type='ELA'), stages=(False, False, False, True), position='after_conv3'),
    ]
    model = PluginResNetV1c(depth=50, plugins=plugins)
    model.eval()
    calls = []
    for m in model.modules():
        if isinstance(m, (SE, ELA)):
            m.register_forward_hook(
                lambda mod, inp, out: calls.append(
                    (type(mod).__name__, inp[0].data_ptr(), out.data_ptr())
                )
            )
    model(torch.rand(1, 3, 64, 64))
    assert [c[0] for c in calls] == ['SE', 'ELA'] * 3
    for se, ela in zip(calls[0::2], calls[1::2]):
        assert ela[1] == se[2], 'ELA must take the output of SE'


def test_same_keys_and_outputs_as_upstream_when_off():
    torch.manual_seed(0)
    upstream, plain = ResNetV1c(depth=50), PluginResNetV1c(depth=50)
    assert list(plain.state_dict()) == list(upstream.state_dict())
    res = plain.load_state_dict(upstream.state_dict(), strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    upstream.eval(), plain.eval()
    x = torch.rand(1, 3, 64, 64)
    for a, b in zip(upstream(x), plain(x)):
        torch.testing.assert_close(a, b)


def test_plugin_after_the_last_norm(io_of):
    """'after_conv3' means after conv3's BatchNorm (norm3), before the residual addition."""
    model = PluginResNetV1c(depth=50, plugins=ELA_ALL)
    model.eval()  # (mmseg's train() returns None: no chaining)
    pairs = io_of(model, torch.rand(1, 3, 64, 64), nn.BatchNorm2d, ELA)
    assert len(pairs) == 16 and all(a is b for a, b in pairs)
    block = model.layer1[0]
    assert block.after_conv3_plugin_names == ['ela'] and block.ela.in_channels == 256


def test_upstream_checkpoint_loads_with_only_attention_keys_missing():
    upstream = ResNetV1c(depth=50).state_dict()
    res = PluginResNetV1c(depth=50, plugins=ELA_ALL).load_state_dict(upstream, strict=False)
    assert res.unexpected_keys == []
    assert len(res.missing_keys) == 16 * 3
    assert all(k.split('.')[2] == 'ela' for k in res.missing_keys)


def test_wrong_number_of_stage_flags_names_the_problem():
    plugin = dict(cfg=dict(type='ELA'), stages=(True, True), position='after_conv3')
    with pytest.raises(
        ValueError,
        match=r"PluginResNetV1c: plugin \{'type': 'ELA'\} has 2 stage "
        r'flags, the backbone has 4 stages',
    ):
        PluginResNetV1c(depth=50, plugins=[plugin])
