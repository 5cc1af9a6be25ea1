"""WithAttention over a broad table of upstream hosts (backbones and necks of mmdet, mmseg and
mmpretrain that no other test covers): the property every insertion must keep.

For each host and a few patterns: the host's containers keep their length, order and members as
its code sees them; the plain host's checkpoint loads with exactly the attention keys missing;
with every inserted module replaced by identity the outputs equal the plain host's in train and
eval; every inserted module runs exactly once per forward and gets a gradient; and for every
``frozen_stages`` value the same parameters are frozen (and the same modules in eval mode) as in
the plain host, the inserted modules staying trainable. Small widths and 64 px inputs keep the
table cheap (one build of each host and of each host with attention)."""

import pytest
import torch
import torch.nn as nn
from mmengine.registry import MODELS, DefaultScope

import ela_mm  # noqa: F401  (registers WithAttention and the attention modules)

ELA = dict(type='ELA', variant='B', num_groups=1)
SE = dict(type='SE', reduction=4)
ECA = dict(type='ECA')
CA = dict(type='CoordAtt')
CBAM = dict(type='CBAM', reduction=4)
_RES_SMALL = dict(stem_channels=16, base_channels=16)
_HRNET_EXTRA = dict(
    stage1=dict(
        num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,), num_channels=(8,)
    ),
    stage2=dict(
        num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(8, 16)
    ),
    stage3=dict(
        num_modules=1,
        num_branches=3,
        block='BASIC',
        num_blocks=(1, 1, 1),
        num_channels=(8, 16, 32),
    ),
    stage4=dict(
        num_modules=1,
        num_branches=4,
        block='BASIC',
        num_blocks=(1, 1, 1, 1),
        num_channels=(8, 16, 32, 64),
    ),
)
_NECK_IN = [16, 32, 64]

# (id, scope, host config, [(attention, pattern), ...])
HOSTS = [
    # ---- mmpretrain
    ('pre.RepVGG', 'mmpretrain', dict(type='RepVGG', arch='A0', out_indices=(1, 2, 3)),
     [(ELA, 'stage_[1-4].-1'), (SE, 'stem')]),
    ('pre.HRNet', 'mmpretrain', dict(type='HRNet', arch='w18'),
     [(ECA, 'stage2.*.branches.*.-1'), (SE, 'layer1.*')]),
    ('pre.DenseNet', 'mmpretrain', dict(type='DenseNet', arch='121', out_indices=(1, 2, 3)),
     [(ECA, 'stages.*'), (ELA, 'transitions.[0-1]')]),
    ('pre.ResNeSt', 'mmpretrain', dict(type='ResNeSt', depth=50, **_RES_SMALL),
     [(ELA, 'layer[2-4]'), (SE, 'layer1.*.bn3')]),
    ('pre.ResNeXt', 'mmpretrain', dict(type='ResNeXt', depth=50, groups=4, **_RES_SMALL,
                                       out_indices=(1, 2, 3)),
     [(CA, 'layer*.-1'), (ECA, 'maxpool')]),
    ('pre.SEResNet', 'mmpretrain', dict(type='SEResNet', depth=50, **_RES_SMALL),
     [(ELA, 'layer[3-4].*'), (ECA, 'layer1.*.se_layer')]),
    ('pre.Res2Net', 'mmpretrain', dict(type='Res2Net', depth=50, **_RES_SMALL),
     [(CBAM, 'layer*'), (ECA, 'layer2.*.bn3')]),
    ('pre.ShuffleNetV2', 'mmpretrain', dict(type='ShuffleNetV2', widen_factor=0.5,
                                            out_indices=(0, 1, 2, 3)),
     [(ELA, 'layers.*'), (SE, 'layers.1.-1')]),
    ('pre.MobileOne', 'mmpretrain', dict(type='MobileOne', arch='s0', out_indices=(1, 2, 3)),
     [(ECA, 'stage[1-4].-1'), (SE, 'stage0')]),
    ('pre.VAN', 'mmpretrain', dict(type='VAN', arch='tiny', out_indices=(0, 1, 2, 3)),
     [(ELA, 'blocks[1-4].-1'), (ECA, 'blocks2.0.attn')]),
    ('pre.ConvNeXtV2', 'mmpretrain', dict(type='ConvNeXt', arch='atto', use_grn=True,
                                          layer_scale_init_value=0.0, out_indices=(0, 1, 2, 3)),
     [(ELA, 'stages.*'), (SE, 'downsample_layers.[1-3]')]),
    ('pre.CSPDarkNet', 'mmpretrain', dict(type='CSPDarkNet', depth=53, out_indices=(2, 3, 4)),
     [(ELA, 'stages.*'), (SE, 'stages.[3-4].blocks.-1')]),
    ('pre.CSPResNet', 'mmpretrain', dict(type='CSPResNet', depth=50, out_indices=(1, 2, 3)),
     [(ECA, 'stages.*'), (CA, 'stem')]),
    ('pre.ConvMixer', 'mmpretrain', dict(type='ConvMixer', out_indices=(1, 3),
                                         arch=dict(embed_dims=32, depth=4, patch_size=7,
                                                   kernel_size=5)),
     [(ELA, 'stages.*'), (SE, 'stages.*.1')]),
    ('pre.MobileViT', 'mmpretrain', dict(type='MobileViT', arch='xx_small',
                                         out_indices=(2, 3, 4)),
     [(ECA, 'layers.*'), (SE, 'layers.[2-4].0')]),
    # ---- mmdet
    ('det.HRNet', 'mmdet', dict(type='HRNet', extra=_HRNET_EXTRA),
     [(ECA, 'stage[3-4].*.branches.*'), (ELA, 'layer1')]),
    ('det.MobileNetV2', 'mmdet', dict(type='MobileNetV2', out_indices=(2, 4, 6),
                                      widen_factor=0.5),
     [(CA, 'layer*.-1'), (ECA, 'layer2.*.depthwise_conv')]),
    ('det.ResNeXt', 'mmdet', dict(type='ResNeXt', depth=50, groups=4, base_width=4,
                                  **_RES_SMALL),
     [(ELA, 'layer*.*.bn3'), (SE, 'layer4')]),
    ('det.Res2Net', 'mmdet', dict(type='Res2Net', depth=50, **_RES_SMALL),
     [(SE, 'layer[2-4].-1'), (ECA, 'stem.-1')]),
    ('det.Darknet53', 'mmdet', dict(type='Darknet', depth=53, out_indices=(3, 4, 5)),
     [(ECA, 'conv_res_block*'), (SE, 'conv_res_block[4-5].-1')]),
    ('det.PAFPN', 'mmdet', dict(type='PAFPN', in_channels=_NECK_IN, out_channels=16,
                                num_outs=3),
     [(ELA, 'fpn_convs.*'), (SE, 'pafpn_convs.*')]),
    ('det.FPN', 'mmdet', dict(type='FPN', in_channels=_NECK_IN, out_channels=16, num_outs=4),
     [(ECA, 'lateral_convs.*'), (ELA, 'fpn_convs.[0-2].conv')]),
    ('det.CSPNeXtPAFPN', 'mmdet', dict(type='CSPNeXtPAFPN', in_channels=_NECK_IN,
                                       out_channels=16, num_csp_blocks=1),
     [(ELA, 'out_convs.*'), (SE, 'top_down_blocks.*')]),
    # ---- mmseg
    ('seg.BiSeNetV2', 'mmseg', dict(type='BiSeNetV2', out_indices=(0, 1, 2, 3, 4)),
     [(ECA, 'detail.detail_branch.*'), (SE, 'semantic.*')]),
    ('seg.ResNeSt', 'mmseg', dict(type='ResNeSt', depth=50, **_RES_SMALL),
     [(ELA, 'layer*.-1'), (CA, 'layer3.*.bn3')]),
    ('seg.HRNet', 'mmseg', dict(type='HRNet', extra=_HRNET_EXTRA),
     [(ELA, 'stage2.*.branches.*.-1'), (ECA, 'transition1.*')]),
    ('seg.MobileNetV3', 'mmseg', dict(type='MobileNetV3', arch='small',
                                      out_indices=(0, 1, 12)),
     [(SE, 'layer[1-9]'), (ECA, 'layer1[0-2]')]),
    ('seg.FastSCNN', 'mmseg', dict(type='FastSCNN'),
     [(ELA, 'learning_to_downsample'), (SE, 'global_feature_extractor.bottleneck*.-1')]),
    ('seg.CGNet', 'mmseg', dict(type='CGNet', num_channels=(8, 16, 32), num_blocks=(1, 2)),
     [(ECA, 'level*.*'), (SE, 'stem.-1')]),
    ('seg.UNet', 'mmseg', dict(type='UNet', base_channels=8, num_stages=3, strides=(1, 1, 1),
                               enc_num_convs=(1, 1, 1), dec_num_convs=(1, 1),
                               downsamples=(True, True), enc_dilations=(1, 1, 1),
                               dec_dilations=(1, 1), norm_eval=True),
     [(ELA, 'encoder.*'), (SE, 'decoder.*')]),
]  # fmt: skip


def _build(scope, cfg):
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401

    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg)


def _inputs(host_cfg):
    torch.manual_seed(0)
    if 'in_channels' in host_cfg and isinstance(host_cfg['in_channels'], list):
        return ([torch.rand(2, c, 16 // 2**i, 16 // 2**i) for i, c in enumerate(_NECK_IN)],)
    return (torch.rand(2, 3, 64, 64),)


def _flat(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat(o)]
    return []


def _run(model, inputs, train):
    model.train(train)
    torch.manual_seed(1)
    with torch.set_grad_enabled(train):
        return _flat(model(*inputs))


def _structure(model, paths):
    """What the host's code sees of each container: its type, length, members in order (and
    what indexing gives)."""
    seen = {}
    for path in paths:
        m = model.get_submodule(path)
        if isinstance(m, nn.ModuleDict):
            seen[path] = (type(m).__name__, len(m), list(m), [type(v).__name__ for v in m.values()])
        elif isinstance(m, (nn.Sequential, nn.ModuleList)):
            members = [id(v) for v in m]
            seen[path] = (
                type(m).__name__,
                len(m),
                [type(v).__name__ for v in m],
                [id(m[i]) for i in range(-len(m), len(m))] == members + members,
            )
    return seen


@pytest.fixture(scope='module', params=HOSTS, ids=[h[0] for h in HOSTS])
def pair(request):
    """(plain host, host with attention, {target: attention path}, inputs), same weights."""
    _, scope, host, entries = request.param
    torch.manual_seed(0)
    plain = _build(scope, host)
    done = {}
    cfg = dict(
        host,
        type='WithAttention',
        host=host['type'],
        attention=[dict(cfg=a, after=p) for a, p in entries],
    )
    from ela_mm.models import insertion

    real = insertion.insert_attention

    def spy(*args, **kwargs):
        done.update(real(*args, **kwargs))
        return done

    insertion.insert_attention = spy
    try:
        model = _build(scope, cfg)
    finally:
        insertion.insert_attention = real
    assert type(model) is type(plain)
    return plain, model, done, _inputs(host)


def test_structure_as_the_host_sees_it(pair):
    plain, model, done, _ = pair
    assert len(done) >= 2
    paths = [n for n, _ in plain.named_modules()]
    assert _structure(model, paths) == _structure(plain, paths)
    for path, m in plain.named_modules():  # the host's own attributes: the same types
        own = model.get_submodule(path)
        for name, child in m.named_children():
            mine = getattr(own, name)  # (a container that stores one: a subclass, same name)
            assert isinstance(mine, type(child)), f'{path}.{name}'
            assert type(mine).__name__ == type(child).__name__, f'{path}.{name}'


def test_plain_checkpoint_loads_with_exactly_the_attention_keys_missing(pair):
    plain, model, done, _ = pair
    res = model.load_state_dict(plain.state_dict(), strict=False)
    assert res.unexpected_keys == []
    attention = {
        k
        for k in model.state_dict()
        if any(k.startswith(p + '.') for p in done.values())
        and not k.endswith('num_batches_tracked')  # (BatchNorm fills it in without a word)
    }
    assert attention and set(res.missing_keys) == attention
    assert set(model.state_dict()) - attention >= set(plain.state_dict())


def _swap(model, done, modules=None):
    """Replace each inserted module by ``modules[path]`` (identity by default); returns the
    modules that were there."""
    before = {}
    for path in done.values():
        parent, _, name = path.rpartition('.')
        holder = model.get_submodule(parent)
        before[path] = getattr(holder, name)
        setattr(holder, name, modules[path] if modules else nn.Identity())
    return before


def test_identity_attention_gives_the_plain_outputs(pair):
    plain, model, done, inputs = pair
    model.load_state_dict(plain.state_dict(), strict=False)
    kept = _swap(model, done)
    try:
        for train in (False, True, False):
            a, b = _run(model, inputs, train), _run(plain, inputs, train)
            assert len(a) == len(b) and a
            for u, v in zip(a, b):
                assert u.shape == v.shape
                torch.testing.assert_close(u, v)
    finally:
        _swap(model, done, kept)


def test_each_module_runs_once_and_gets_a_gradient(pair):
    _, model, done, inputs = pair
    calls = {p: 0 for p in done.values()}
    handles = []
    for path in done.values():

        def count(*_, path=path):
            calls[path] += 1

        handles.append(model.get_submodule(path).register_forward_hook(count))
    try:
        model.zero_grad(set_to_none=True)
        outs = _run(model, inputs, True)
        sum(o.float().mean() for o in outs).backward()
    finally:
        for h in handles:
            h.remove()
    assert calls == {p: 1 for p in done.values()}
    for path in done.values():
        for name, p in model.get_submodule(path).named_parameters():
            assert p.grad is not None, f'{path}.{name}'


def _frozen(model, names):
    """The parameters that do not train and the host's modules in eval mode, after train()."""
    model.train()
    return (
        sorted(n for n, p in model.named_parameters() if not p.requires_grad),
        [n for n in names if not model.get_submodule(n).training],
    )


def test_frozen_stages_freeze_what_the_plain_host_freezes(pair):
    plain, model, done, _ = pair
    if not hasattr(plain, 'frozen_stages'):
        pytest.skip('no frozen_stages')
    names = [n for n, _ in plain.named_modules()]
    attention = [p for path in done.values() for p in model.get_submodule(path).parameters()]
    try:
        for k in range(-1, 6):
            state = []
            for m in (plain, model):
                for p in m.parameters():
                    p.requires_grad_(True)
                m.frozen_stages = k
                try:
                    state.append(_frozen(m, names))
                except Exception as e:  # noqa: BLE001  (beyond the host's stages: the same error)
                    state.append(type(e))
            assert state[0] == state[1], k
            assert all(p.requires_grad for p in attention)  # new modules: always trained
    finally:
        for m in (plain, model):
            m.frozen_stages = -1
            for p in m.parameters():
                p.requires_grad_(True)
