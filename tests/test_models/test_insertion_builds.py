"""WithAttention at build time: channels measured or the build stops, messages that finish the
job (groups, scopes, closest names), re-parameterisation, the shipped configs' keys, copies."""

import copy
import glob
import hashlib
import json
import os.path as osp
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS, DefaultScope

from ela_mm import insert_attention
from ela_mm.utils.config import load_config, scope_registry

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def build(scope, cfg):
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401

    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def first_conv(module):
    return next(m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d)))


# ------------------------------------------------------------------ channels: measured
def test_the_probe_tries_larger_inputs():
    """InceptionV3 does not run at 64 px: the probe measures 256 channels at 128 px (the
    declared widths of Mixed_5b's last layers say 32)."""
    model = build(
        'mmpretrain',
        dict(
            type='WithAttention', host='InceptionV3', attention=[dict(cfg='se', after='Mixed_5b')]
        ),
    )
    assert first_conv(model.se).in_channels == 256
    model.eval()
    with torch.no_grad():
        model(torch.rand(1, 3, 96, 96))


def test_token_outputs_are_refused_with_the_real_reason():
    """Swin does not run at 64 or 128 px (window 7); at 224 px it does and its stages output
    token tuples, which the build refuses."""
    with pytest.raises(ValueError, match=r"attention after 'stages.0': the module outputs a tuple"):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='SwinTransformer',
                arch=dict(embed_dims=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1]),
                attention=[dict(cfg='se', after='stages.0')],
            ),
        )


class _Picky(nn.Module):
    """Runs only on a 96 x 96 input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        if x.shape[-2:] != (96, 96):
            raise RuntimeError(f'_Picky needs 96 x 96, got {tuple(x.shape[-2:])}')
        return self.conv(x)


def test_a_host_that_cannot_run_stops_the_build_with_its_own_error():
    with pytest.raises(ValueError) as e:
        insert_attention(_Picky(), [dict(cfg='se', after='conv')])
    msg = str(e.value)
    assert "attention after 'conv': cannot measure its output channels" in msg
    assert 'RuntimeError: _Picky needs 96 x 96, got (64, 64)' in msg  # the host's error
    assert '320 px: RuntimeError' in msg  # every size was tried
    assert 'probe_size=' in msg and 'channels=' in msg  # what to pass
    # a size the user gives ...
    m = _Picky()
    assert insert_attention(m, [dict(cfg='se', after='conv')], probe_size=96) == {'conv': 'se'}
    assert first_conv(m.se).in_channels == 8
    # ... or channels declared (used only when they cannot be measured) ...
    m = _Picky()
    insert_attention(m, [dict(cfg='se', after='conv', channels={'conv': 8})])
    assert first_conv(m.se).in_channels == 8
    # ... and checked against the measurement when they can
    with pytest.raises(ValueError, match=r'channels=16 declared, the module outputs 8'):
        insert_attention(_Picky(), [dict(cfg='se', after='conv', channels=16)], probe_size=96)


# ------------------------------------------------------------------ messages
def test_a_groups_error_suggests_one_value_for_every_target():
    """ELA-T (GroupNorm 32) after every layer of MobileNetV3-small: the channels are 16, 24,
    40, 48, 96 and 576; the message names one value that divides them all, and it builds."""
    cfg = dict(type='WithAttention', host='MobileNetV3', arch='small')
    with pytest.raises(ValueError, match=r'For every target of this entry .*: pass num_groups=8'):
        build('mmpretrain', dict(cfg, attention=[dict(cfg='ela_t', after='layer*')]))
    ela = dict(type='ELA', variant='T', num_groups=8)
    model = build('mmpretrain', dict(cfg, attention=[dict(cfg=ela, after='layer*')]))
    assert sum(type(m).__name__ == 'ELA' for m in model.modules()) == 13


@pytest.fixture
def no_default_scope(monkeypatch):
    monkeypatch.setattr(DefaultScope, 'get_current_instance', classmethod(lambda cls: None))


def test_hosts_are_found_without_a_default_scope(no_default_scope):
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401

    neck = dict(in_channels=[8, 16], out_channels=8, num_outs=2)
    att = [dict(cfg='eca', after='fpn_convs.*')]
    with pytest.raises(KeyError, match=r"host 'FPN' exists in mmdet.FPN, mmseg.FPN: name one"):
        MODELS.build(dict(type='WithAttention', host='FPN', attention=att, **neck))
    model = MODELS.build(dict(type='WithAttention', host='mmdet.FPN', attention=att, **neck))
    assert type(model).__module__.startswith('mmdet.')
    model = MODELS.build(  # in one library only: found there
        dict(
            type='WithAttention',
            host='CSPNeXtPAFPN',
            in_channels=[8, 16, 32],
            out_channels=8,
            num_csp_blocks=1,
            attention=[dict(cfg='eca', after='out_convs.*')],
        )
    )
    assert type(model).__name__ == 'CSPNeXtPAFPN'
    model = MODELS.build(  # the scoped form of WithAttention itself
        dict(
            type='mmpretrain.WithAttention',
            host='CSPDarkNet',
            depth=53,
            attention=[dict(cfg='eca', after='stages.*')],
        )
    )
    assert type(model).__name__ == 'CSPDarkNet' and len(model.stages) == 5
    with pytest.raises(KeyError, match=r"host 'NoSuchNet' is in no registry of mmdet"):
        MODELS.build(dict(type='WithAttention', host='NoSuchNet', attention=att))


def test_a_default_scope_picks_its_own_host():
    model = build(
        'mmseg',
        dict(
            type='WithAttention',
            host='FPN',
            in_channels=[8, 16],
            out_channels=8,
            num_outs=2,
            attention=[dict(cfg='eca', after='fpn_convs.*')],
        ),
    )
    assert type(model).__module__.startswith('mmseg.')


def test_closest_names_rank_every_path_part():
    model = build('mmpretrain', dict(type='SEResNet', depth=50, stem_channels=16, base_channels=16))
    with pytest.raises(
        ValueError, match=r"matches 'layer\*.\*.se'; closest names: layer\*.\*.se_layer,"
    ):
        insert_attention(model, [dict(cfg='eca', after='layer*.*.se')])


def test_a_target_that_re_parameterisation_folds_away_is_refused():
    with pytest.raises(
        ValueError,
        match=r"'stage_1.0.branch_3x3': the module is in a branch of "
        r"'stage_1.0' \(RepVGGBlock\) that switch_to_deploy\(\)",
    ):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='RepVGG',
                arch='A0',
                attention=[dict(cfg='se', after='stage_1.0.branch_3x3')],
            ),
        )
    with pytest.raises(ValueError, match=r"branch of 'stage1.0' \(MobileOneBlock\)"):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='MobileOne',
                arch='s0',
                attention=[dict(cfg='se', after='stage1.0.branch_conv_list.0')],
            ),
        )


@pytest.mark.parametrize(
    'host,pattern',
    [(dict(type='RepVGG', arch='A0', out_indices=(1, 2, 3)), 'stage_[1-4].*'),
     (dict(type='MobileOne', arch='s0', out_indices=(1, 2, 3)), 'stage[1-4].-1')],
    ids=['RepVGG', 'MobileOne'],
)  # fmt: skip
def test_attention_after_blocks_survives_switch_to_deploy(host, pattern):
    torch.manual_seed(0)
    plain = build('mmpretrain', host)
    model = build(
        'mmpretrain',
        dict(
            host,
            type='WithAttention',
            host=host['type'],
            attention=[dict(cfg='eca', after=pattern)],
        ),
    )
    model.load_state_dict(plain.state_dict(), strict=False)
    plain.eval()
    model.eval()
    plain.switch_to_deploy()
    model.switch_to_deploy()
    x = torch.rand(2, 3, 64, 64)
    mods = [m for m in model.modules() if type(m).__name__ == 'ECA']
    calls = []
    handles = [m.register_forward_hook(lambda *_: calls.append(1)) for m in mods]
    with torch.no_grad():
        model(x)
    assert len(calls) == len(mods) > 0
    for h in handles:
        h.remove()
    for path, m in list(model.named_modules()):
        if type(m).__name__ == 'ECA':
            parent, _, name = path.rpartition('.')
            setattr(model.get_submodule(parent), name, nn.Identity())
    with torch.no_grad():
        for a, b in zip(model(x), plain(x)):
            torch.testing.assert_close(a, b)


# ------------------------------------------------------------------ the shipped configs
# (config: number of backbone keys, sha1 of the ordered [key, shape] list, one attention key),
# recorded with the version that spliced the modules into the Sequentials (before #20)
SHIPPED = {
    'deeplabv3/deeplabv3_m-v2-d8-ca_4xb4-20k_voc12aug-512x512.py':
        (493, '8e1e60d29c80b911', 'layer1.0.conv.coord_att.conv1.weight'),
    'deeplabv3/deeplabv3_m-v2-d8-cbam_4xb4-20k_voc12aug-512x512.py':
        (391, '7f594fe9afc984ed', 'layer1.0.conv.cbam.mlp.0.weight'),
    'deeplabv3/deeplabv3_m-v2-d8-eca_4xb4-20k_voc12aug-512x512.py':
        (323, '797d45a0d3afcafd', 'layer1.0.conv.eca.conv.weight'),
    'deeplabv3/deeplabv3_m-v2-d8-ela-s_4xb4-20k_voc12aug-512x512.py':
        (357, '3b2fcf68e0f0f9ed', 'layer1.0.conv.ela.conv.weight'),
    'deeplabv3/deeplabv3_m-v2-d8-se_4xb4-20k_voc12aug-512x512.py':
        (374, '39a2607654a5058d', 'layer1.0.conv.se.fc1.weight'),
    'rtmdet/rtmdet_tiny-ca_8xb32-300e_coco.py':
        (239, '16162cfcaa4dbd00', 'stage4.coord_att.conv1.weight'),
    'rtmdet/rtmdet_tiny-cbam_8xb32-300e_coco.py':
        (221, '0c70ec3dab8886da', 'stage4.cbam.mlp.0.weight'),
    'rtmdet/rtmdet_tiny-eca_8xb32-300e_coco.py':
        (209, '9516c72b7104d9c7', 'stage4.eca.conv.weight'),
    'rtmdet/rtmdet_tiny-ela-t_8xb32-300e_coco.py':
        (215, '2e56e386c7095eb0', 'stage4.ela.conv.weight'),
    'rtmdet/rtmdet_tiny-se_8xb32-300e_coco.py':
        (218, '77813997176574fa', 'stage4.se.fc1.weight'),
}  # fmt: skip


def test_every_shipped_config_is_pinned():
    shipped = {
        osp.relpath(p, osp.join(ROOT, 'configs'))
        for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
        if 'WithAttention' in open(p).read()
    }
    assert shipped == set(SHIPPED)


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_shipped_configs_keep_their_keys(name):
    """The backbone's state-dict keys, their order and shapes as before: checkpoints saved
    then load; the Sequentials that store the modules keep their plain length."""
    cfg = load_config(osp.join(ROOT, 'configs', name))
    backbone = dict(cfg.model.backbone)
    backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = scope_registry(cfg.default_scope).build(backbone)
    keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    count, digest, example = SHIPPED[name]
    assert example in model.state_dict()
    assert len(keys) == count
    assert hashlib.sha1(json.dumps(keys).encode()).hexdigest()[:16] == digest
    plain = {k: v for k, v in backbone.items() if k not in ('host', 'attention')}
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        plain = scope_registry(cfg.default_scope).build(dict(plain, type=backbone['host']))
    for path, m in plain.named_modules():
        if isinstance(m, (nn.Sequential, nn.ModuleList)):
            assert len(model.get_submodule(path)) == len(m), path


# ------------------------------------------------------------------ copies
class _Stages(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(*[nn.Conv2d(3 if i == 0 else 8, 8, 1) for i in range(3)])
        self.frozen_stages = 0

    def forward(self, x):
        for i in range(len(self.stages)):
            x = self.stages[i](x)
        return [x]

    def train(self, mode=True):  # frozen_stages=0: all stages (the stored SE modules too)
        super().train(mode)
        if self.frozen_stages >= 0:
            for p in self.stages.parameters():
                p.requires_grad = False


@pytest.mark.parametrize('how', ['deepcopy', 'pickle'])
def test_copies_keep_the_hidden_members_the_hooks_and_the_training(how, randomise):
    m = randomise(_Stages())
    insert_attention(m, [dict(cfg='se', after='stages.*')])
    m2 = copy.deepcopy(m) if how == 'deepcopy' else pickle.loads(pickle.dumps(m))
    assert len(m2.stages) == 3 and type(m2.stages).__name__ == 'Sequential'
    assert [n for n, _ in m2.stages.named_children()] == [n for n, _ in m.stages.named_children()]
    x = torch.rand(2, 3, 8, 8)
    m.eval()
    m2.eval()
    with torch.no_grad():
        torch.testing.assert_close(m2(x)[0], m(x)[0])
        m2.stages.se_0.fc1.weight.zero_()  # the copy's hooks call the copy's modules
        assert not torch.allclose(m2(x)[0], m(x)[0])
    m2.train()  # the copy's train(): the copy's host frozen, its attention not
    assert not any(p.requires_grad for p in m2.stages[-1].parameters())
    assert all(p.requires_grad for p in m2.stages.se_2.parameters())
