"""Attention anywhere: WithAttention inserts modules after chosen submodules of upstream
backbones and necks of mmdet, mmseg and mmpretrain, without a subclass."""

import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import MODELS, DefaultScope

from ela_mm import (
    ELA,
    SE,
    AttnMobileNetV2,
    AttnResNet,
    PluginCSPDarknet,
    PluginResNetV1c,
    WithAttention,
    insert_attention,
    match_modules,
)


def build(scope, cfg):
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401

    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def eval_(model):
    model.eval()  # (mmdet's and mmseg's train() return None: no chaining)
    return model


def copy_weights(dst, src):
    res = dst.load_state_dict(src.state_dict(), strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []


def assert_same_outputs(a, b, x):
    with torch.no_grad():
        oa, ob = a(x), b(x)
    oa = oa if isinstance(oa, (tuple, list)) else [oa]
    ob = ob if isinstance(ob, (tuple, list)) else [ob]
    assert len(oa) == len(ob)
    for u, v in zip(oa, ob):
        torch.testing.assert_close(u, v)


# ------------------------------------------------------------------ patterns
class _Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        for i in range(1, 4):
            self.add_module(
                f'stage{i}',
                nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
            )

    def forward(self, x):
        x = self.stem(x)
        return self.stage3(self.stage2(self.stage1(x)))


def test_patterns():
    m = _Toy()
    assert match_modules(m, 'stage[2-3].-1') == ['stage2.2', 'stage3.2']
    assert match_modules(m, 'stage*.1') == ['stage1.1', 'stage2.1', 'stage3.1']
    assert match_modules(m, 'stage2.*') == ['stage2.0', 'stage2.1', 'stage2.2']
    assert match_modules(m, 'stem') == ['stem']
    assert match_modules(m, 'stage1.-3') == ['stage1.0']


def test_no_match_lists_the_closest_names():
    with pytest.raises(ValueError, match=r"no module of _Toy matches 'stages.2'.*stage2"):
        match_modules(_Toy(), 'stages.2')
    with pytest.raises(ValueError, match=r"matches 'stage1.-4'"):
        match_modules(_Toy(), 'stage1.-4')


def test_stored_next_to_the_target_applied_by_a_hook_the_container_unchanged(randomise):
    m = randomise(_Toy())
    own = list(m.stage2)
    done = insert_attention(m, [dict(cfg=dict(type='SE', reduction=4), after='stage2.1')])
    assert done == {'stage2.1': 'stage2.se'}
    # stored (and keyed) right after its target, as earlier versions spliced it ...
    assert list(dict(m.stage2.named_children())) == ['0', '1', 'se', '2']
    parts = [k.split('.')[1] for k in m.state_dict() if k.startswith('stage2.')]
    assert list(dict.fromkeys(parts)) == ['0', '1', 'se']
    # ... but the Sequential as the host's code sees it is the plain one
    assert len(m.stage2) == 3 and list(m.stage2) == own and m.stage2[-1] is own[-1]
    assert [type(x) for x in m.stage2[1:]] == [nn.BatchNorm2d, nn.ReLU]
    assert type(m.stage2).__name__ == 'Sequential' and isinstance(m.stage2, nn.Sequential)
    assert 'se' not in dir(m.stage2)
    done = insert_attention(m, [dict(cfg='eca', after='stem')])
    assert done == {'stem': 'eca'}  # the host is the parent
    x = torch.randn(2, 3, 8, 8)
    m.eval()
    with torch.no_grad():
        s = m.eca(F.conv2d(x, m.stem.weight, m.stem.bias, padding=1))  # stem, no hook
        s = m.stage1(s)
        st = dict(m.stage2.named_children())
        bn = st['1']
        s = F.batch_norm(st['0'](s), bn.running_mean, bn.running_var, bn.weight, bn.bias)
        ref = m.stage3(st['2'](st['se'](s)))  # (bn without its hook, then se)
        torch.testing.assert_close(m(x), ref)
        # the hook applies it wherever the target runs: also in a slice of the Sequential
        y = torch.rand(2, 8, 4, 4)
        ref = st['se'](
            F.batch_norm(st['0'](y), bn.running_mean, bn.running_var, bn.weight, bn.bias)
        )
        torch.testing.assert_close(m.stage2[:2](y), ref)


class _Indexed(nn.Module):
    """Runs its stages by position, as CSPDarkNet, ConvMixer and MobileViT do."""

    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(*[nn.Conv2d(8 if i else 3, 8, 1) for i in range(4)])
        self.heads = nn.ModuleList([nn.Conv2d(8, 8, 1) for _ in range(2)])
        self.named = nn.ModuleDict(dict(a=nn.Conv2d(8, 8, 1), b=nn.Conv2d(8, 8, 1)))
        self.frozen_stages = 1

    def forward(self, x):
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in (1, len(self.stages) - 1):
                outs.append(self.heads[len(outs)](x))
        return outs + [self.named[k](x) for k in self.named]

    def train(self, mode=True):
        super().train(mode)
        for i in range(self.frozen_stages + 1):
            self.stages[i].eval()
            for p in self.stages[i].parameters():
                p.requires_grad = False


def test_containers_the_host_indexes_keep_their_positions(randomise):
    """ELA after every stage of a Sequential the host enumerates and indexes, every head of a
    ModuleList and every member of a ModuleDict: positions, lengths, keys, outputs (attention
    as identity), freezing as in the plain host, the attention trainable."""
    plain = randomise(_Indexed())
    m = randomise(_Indexed())
    done = insert_attention(
        m,
        [
            dict(cfg=dict(type='ELA', num_groups=8), after='stages.*'),
            dict(cfg='se', after='heads.*'),
            dict(cfg='eca', after='named.*'),
        ],
    )
    assert done['stages.0'] == 'stages.ela_0' and done['heads.1'] == 'heads.1.se'
    assert done['named.a'] == 'named.a.eca'
    assert len(m.stages) == 4 and len(m.heads) == 2 and list(m.named) == ['a', 'b']
    assert [n for n, _ in m.stages.named_children()][:2] == ['0', 'ela_0']  # (keys)
    for path in done.values():
        parent, _, name = path.rpartition('.')
        setattr(m.get_submodule(parent), name, nn.Identity())
    x = torch.rand(2, 3, 8, 8)
    m.eval()
    plain.eval()
    for a, b in zip(m(x), plain(x)):
        torch.testing.assert_close(a, b)
    m.train()
    plain.train()
    frozen = sorted(n for n, p in m.named_parameters() if not p.requires_grad)
    assert frozen == sorted(n for n, p in plain.named_parameters() if not p.requires_grad)
    assert frozen == ['stages.0.bias', 'stages.0.weight', 'stages.1.bias', 'stages.1.weight']


def test_names_when_targets_share_a_parent():
    m = _Toy()
    done = insert_attention(m, [dict(cfg='se', after='stage1.[02]')])
    assert done == {'stage1.0': 'stage1.se_0', 'stage1.2': 'stage1.se_2'}
    with pytest.raises(ValueError, match="already has a member named 'se'; give the attention"):
        insert_attention(m, [dict(cfg='se', after='stage2.0'), dict(cfg='se', after='stage2.2')])


# ------------------------------------------------------------------ same as our backbones
def test_cspdarknet_same_as_plugin_cspdarknet(randomise):
    """YOLOX's CSPDarknet with ELA-T after stages 2-4: the modules, keys and outputs of
    PluginCSPDarknet."""
    kw = dict(deepen_factor=0.33, widen_factor=0.25, use_depthwise=True)
    att = [dict(cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))]
    ours = randomise(PluginCSPDarknet(plugins=att, **kw))
    new = build(
        'mmdet',
        dict(
            type='WithAttention',
            host='CSPDarknet',
            attention=[dict(cfg=dict(type='ELA', variant='T'), after='stage[2-4].-1')],
            **kw,
        ),
    )
    assert type(new).__name__ == 'CSPDarknet'
    assert list(new.state_dict()) == list(ours.state_dict())
    copy_weights(new, ours)
    assert_same_outputs(eval_(new), eval_(ours), torch.rand(2, 3, 64, 64))


def test_mmseg_resnet_same_as_plugin_resnet_v1c(randomise):
    ours = randomise(
        PluginResNetV1c(
            depth=50,
            plugins=[dict(cfg=dict(type='ELA'), stages=(True,) * 4, position='after_conv3')],
        )
    )
    new = build(
        'mmseg',
        dict(
            type='WithAttention',
            host='ResNetV1c',
            depth=50,
            attention=[dict(cfg=dict(type='ELA'), after='layer*.*.bn3')],
        ),
    )
    assert sorted(new.state_dict()) == sorted(ours.state_dict())
    copy_weights(new, ours)
    assert_same_outputs(eval_(new), eval_(ours), torch.rand(1, 3, 64, 64))


def test_mmdet_resnet_same_as_native_plugins(randomise):
    """mmdet's own ResNet `plugins=` after_conv3 and WithAttention after bn3: same keys, same
    outputs with the same weights."""
    native = randomise(
        build(
            'mmdet',
            dict(
                type='ResNet',
                depth=50,
                plugins=[
                    dict(
                        cfg=dict(type='ELA'),
                        stages=(False, True, True, True),
                        position='after_conv3',
                    )
                ],
            ),
        )
    )
    new = build(
        'mmdet',
        dict(
            type='WithAttention',
            host='ResNet',
            depth=50,
            attention=[dict(cfg=dict(type='ELA'), after='layer[2-4].*.bn3')],
        ),
    )
    assert sorted(new.state_dict()) == sorted(native.state_dict())
    copy_weights(new, native)
    assert_same_outputs(eval_(new), eval_(native), torch.rand(1, 3, 64, 64))


def test_mmpretrain_resnet_and_mobilenet_same_as_attn_backbones(randomise):
    ours = randomise(AttnResNet(50, attention=dict(type='ELA', variant='B')))
    new = build(
        'mmpretrain',
        dict(
            type='WithAttention',
            host='ResNet',
            depth=50,
            attention=[
                dict(cfg=dict(type='ELA', variant='B'), after='layer*.*.bn3', name='attention')
            ],
        ),
    )
    assert sorted(new.state_dict()) == sorted(ours.state_dict())
    copy_weights(new, ours)
    assert_same_outputs(eval_(new), eval_(ours), torch.rand(1, 3, 64, 64))

    ours = randomise(AttnMobileNetV2(attention=dict(type='ELA', variant='S')))
    new = build(
        'mmpretrain',
        dict(
            type='WithAttention',
            host='MobileNetV2',
            attention=[
                dict(cfg=dict(type='ELA', variant='S'), after='layer*.*.conv.-2', name='attn')
            ],
        ),
    )
    assert list(new.state_dict()) == list(ours.state_dict())
    copy_weights(new, ours)
    assert_same_outputs(eval_(new), eval_(ours), torch.rand(1, 3, 64, 64))


# ------------------------------------------------------------------ upstream models
# (scope, host config, pattern, attention, expected (path, channels) of the first module,
#  number of modules); the first four have no plugin hook upstream
UPSTREAM = [
    (
        'mmdet',
        dict(type='CSPNeXt', deepen_factor=0.167, widen_factor=0.375),
        'stage[2-4].-1',
        dict(type='ELA', variant='T'),
        ('stage2.ela', 96),
        3,
    ),
    (
        'mmdet',
        dict(type='RegNet', arch='regnetx_400mf'),
        'layer*.*.bn3',
        dict(type='ELA', variant='B'),
        ('layer1.0.ela', 32),
        22,
    ),
    (
        'mmdet',
        dict(type='YOLOXPAFPN', in_channels=[64, 128, 256], out_channels=64, num_csp_blocks=1),
        'out_convs.*',
        dict(type='ELA', variant='T'),
        ('out_convs.0.ela', 64),
        3,
    ),
    (
        'mmpretrain',
        dict(type='ConvNeXt', arch='tiny'),
        'stages.[1-3].*',
        dict(type='ELA', variant='B'),
        ('stages.1.ela_0', 192),
        15,
    ),
    (
        'mmpretrain',
        dict(type='EfficientNet', arch='b0'),
        'layers.[2-5].*',
        dict(type='SE'),
        ('layers.2.se_0', 24),
        15,
    ),
    (
        'mmpretrain',
        dict(type='MobileNetV3', arch='small'),
        'layer*',
        dict(type='ECA'),
        ('eca_layer0', 16),
        13,
    ),
    (
        'mmseg',
        dict(
            type='MobileNetV2',
            widen_factor=1.0,
            strides=(1, 2, 2, 1, 1, 1, 1),
            dilations=(1, 1, 1, 2, 2, 4, 4),
            out_indices=(1, 2, 4, 6),
        ),
        'layer*.*.conv.-2',
        dict(type='CoordAtt'),
        ('layer1.0.conv.coord_att', 32),
        17,
    ),
    (
        'mmseg',
        dict(type='ResNetV1c', depth=18),
        'layer[3-4].*.bn2',
        dict(type='ELA', variant='B'),
        ('layer3.0.ela', 256),
        4,
    ),
    ('mmdet', dict(type='ResNet', depth=18), 'layer*', dict(type='CBAM'), ('cbam_layer1', 64), 4),
]


@pytest.mark.parametrize(
    'scope,host,pattern,att,first,count',
    UPSTREAM,
    ids=[f'{s}.{h["type"]}' for s, h, *_ in UPSTREAM],
)
def test_upstream_models(scope, host, pattern, att, first, count, tmp_path):
    upstream = build(scope, host)
    path = str(tmp_path / 'upstream.pth')
    torch.save(upstream.state_dict(), path)
    cfg = dict(
        host, type='WithAttention', host=host['type'], attention=[dict(cfg=att, after=pattern)]
    )
    model = build(scope, cfg)
    assert type(model) is type(upstream)
    mods = {
        n: m
        for n, m in model.named_modules()
        if type(m).__name__ == MODELS.get(att['type']).__name__
    }
    if first is not None:
        name, channels = first
        assert len(mods) == count
        assert name in mods, sorted(mods)[:5]
        first_conv = next(c for c in mods[name].modules() if isinstance(c, (nn.Conv1d, nn.Conv2d)))
        assert first_conv.in_channels == channels or att['type'] == 'ECA'
    # the host's keys unchanged: the upstream checkpoint loads with exactly the attention keys
    # missing
    res = model.load_state_dict(torch.load(path), strict=False)
    assert res.unexpected_keys == []
    assert res.missing_keys and all(
        any(k.startswith(n + '.') for n in mods) for k in res.missing_keys
    )
    # (BatchNorm fills in a missing num_batches_tracked without reporting it)
    assert len(res.missing_keys) == sum(
        len([k for k in m.state_dict() if not k.endswith('num_batches_tracked')])
        for m in mods.values()
    )
    # train and eval, forward and backward
    inputs = (
        [torch.rand(2, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(host['in_channels'])]
        if 'in_channels' in host
        else [torch.rand(2, 3, 64, 64)]
    )
    model.train()
    outs = model(inputs) if 'in_channels' in host else model(inputs[0])
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for m in mods.values() for p in m.parameters())
    model.eval()
    with torch.no_grad():
        outs = model(inputs) if 'in_channels' in host else model(inputs[0])
    assert all(torch.isfinite(o).all() for o in outs)


# ------------------------------------------------------------------ errors
def test_not_nchw_outputs_are_refused():
    with pytest.raises(
        ValueError,
        match=r"attention after 'stages.1.0.pointwise_conv1': the "
        r'module outputs a channels-last tensor',
    ):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='ConvNeXt',
                arch='tiny',
                attention=[dict(cfg='ela', after='stages.1.0.pointwise_conv1')],
            ),
        )
    with pytest.raises(
        ValueError,
        match=r"attention after 'layers.0': the module outputs a "
        r'tensor of shape \(1, \d+, 192\).*NCHW',
    ):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='VisionTransformer',
                arch='deit-t',
                img_size=64,
                patch_size=16,
                attention=[dict(cfg='ela', after='layers.0')],
            ),
        )
    with pytest.raises(ValueError, match=r"after 'stage4': the module outputs a tuple"):
        m = _TupleStage()
        insert_attention(m, [dict(cfg='se', after='stage4')])


class _TupleStage(nn.Module):
    def __init__(self):
        super().__init__()
        self.stage4 = _Pair()

    def forward(self, x):
        return self.stage4(x)


class _Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return self.conv(x), x


def test_channels_the_groups_cannot_split():
    with pytest.raises(
        ValueError,
        match=r"attention after 'layer2.depthwise_conv' \(72 "
        r'channels\): ELA-T: GroupNorm num_groups=32 does not '
        r'divide in_channels=72',
    ):
        build(
            'mmpretrain',
            dict(
                type='WithAttention',
                host='MobileNetV3',
                arch='small',
                attention=[dict(cfg='ela_t', after='layer2.depthwise_conv')],
            ),
        )


def test_bad_entries():
    with pytest.raises(ValueError, match='expected keys cfg, after and optionally name'):
        insert_attention(_Toy(), [dict(cfg='se', where='stem')])
    with pytest.raises(ValueError, match="unknown attention 'xx'"):
        insert_attention(_Toy(), [dict(cfg='xx', after='stem')])


# ------------------------------------------------------------------ how it runs
def _cspnext(**kw):
    return build(
        'mmdet',
        dict(
            type='WithAttention',
            host='CSPNeXt',
            deepen_factor=0.167,
            widen_factor=0.375,
            attention=[dict(cfg=dict(type='ELA', variant='T'), after='stage[2-4].-1')],
            **kw,
        ),
    )


def test_jit_trace_and_onnx(tmp_path):
    ort = pytest.importorskip('onnxruntime')
    model = eval_(
        build(
            'mmdet',
            dict(
                type='WithAttention',
                host='ResNet',
                depth=18,
                attention=[dict(cfg='ela_b', after='layer[3-4].*.bn2')],
            ),
        )
    )
    x = torch.rand(1, 3, 64, 64)
    traced = torch.jit.trace(model, x)
    x2 = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        for a, b in zip(traced(x2), model(x2)):  # the traced reference path vs the fused ops
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    path = str(tmp_path / 'm.onnx')
    torch.onnx.export(
        model,
        (x,),
        path,
        input_names=['x'],
        dynamo=False,
        dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}},
    )
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    outs = sess.run(None, {'x': x2.numpy()})
    with torch.no_grad():
        ref = model(x2)
    for o, r in zip(outs, ref):
        torch.testing.assert_close(torch.from_numpy(o), r, rtol=1e-4, atol=1e-4)


def test_torch_compile():
    model = eval_(_cspnext())
    compiled = torch.compile(model, backend='aot_eager', dynamic=True)
    for shape in ((1, 3, 64, 64), (2, 3, 96, 64)):
        x = torch.rand(shape)
        with torch.no_grad():
            for a, b in zip(compiled(x), model(x)):  # compiled: the reference path
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_pretrained_init_and_frozen_stages(tmp_path, randomise):
    upstream = randomise(
        build('mmdet', dict(type='CSPNeXt', deepen_factor=0.167, widen_factor=0.375))
    )
    path = str(tmp_path / 'cspnext.pth')
    torch.save(upstream.state_dict(), path)
    model = _cspnext(frozen_stages=2, init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    state = model.state_dict()
    for k, v in upstream.state_dict().items():
        torch.testing.assert_close(state[k], v)
    model.train()
    for p in model.stage1.parameters():
        assert not p.requires_grad
    out = model(torch.rand(2, 3, 64, 64))
    sum(o.sum() for o in out).backward()
    assert model.stage3.ela.conv.weight.grad is not None
    assert all(p.grad is None for p in model.stage1.parameters())


def test_distributed_data_parallel(tmp_path):
    """Two CPU processes (gloo): DDP over a host with inserted attention gives both ranks the
    same gradients, attention parameters included."""
    script = tmp_path / 'ddp.py'
    script.write_text(
        'import os, torch, torch.distributed as dist\n'
        'import ela_mm, mmdet.models\n'
        'from mmengine.registry import MODELS, DefaultScope\n'
        'dist.init_process_group("gloo")\n'
        'torch.manual_seed(0)\n'
        'with DefaultScope.overwrite_default_scope("mmdet"):\n'
        '    m = MODELS.build(dict(type="WithAttention", host="CSPNeXt", deepen_factor=0.167,\n'
        '        widen_factor=0.375, attention=[dict(cfg="ela_t", after="stage[2-4].-1")]))\n'
        'ddp = torch.nn.parallel.DistributedDataParallel(m)\n'
        'torch.manual_seed(dist.get_rank())\n'
        'sum(o.sum() for o in ddp(torch.rand(2, 3, 64, 64))).backward()\n'
        'g = m.stage3.ela.conv.weight.grad.clone()\n'
        'other = [torch.zeros_like(g) for _ in range(2)]\n'
        'dist.all_gather(other, g)\n'
        'assert torch.equal(other[0], other[1]) and g.abs().sum() > 0\n'
        'print("ok", dist.get_rank())\n'
        'del ddp  # its reducer holds the group: release it before the group goes\n'
        'dist.barrier()\n'
        'dist.destroy_process_group()\n'
    )
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            '-m',
            'torch.distributed.run',
            '--standalone',  # a free port of the OS's choosing: no collision between runs
            '--nproc_per_node=2',
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count('ok') == 2


def test_registered_in_the_root_registry():
    assert MODELS.get('WithAttention') is WithAttention
    assert osp.basename(WithAttention.__code__.co_filename) == 'insertion.py'
    assert ELA and SE  # exported next to it


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(self.act(x)).relu())


def test_shared_modules_are_refused():
    with pytest.raises(ValueError, match=r"after 'act': the module runs 2 times in one forward"):
        insert_attention(_Shared(), [dict(cfg='se', after='act')])
