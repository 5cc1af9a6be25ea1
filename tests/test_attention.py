"""ELA and its peers: exactness against independent references, gradients, robustness, export."""
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ela_mm import CBAM, ECA, ELA, SE, CoordAtt, build_attention
from ela_mm.ops import (dwconv_gn_sigmoid, has_fused_kernels, strip_attention,
                        strip_attention_reference)

VARIANTS = {'T': (5, None, 32), 'B': (7, None, 16), 'S': (5, 8, 16), 'L': (7, 8, 16)}


# ---------------------------------------------------------------- independent references
def ref_ela(x, conv_w, groups, gn_w, gn_b, num_groups, conv_w2=None, gn2=None):
    """The paper's Figure 4 listing, written with functional ops (second set: per-direction)."""
    b, c, h, w = x.shape
    pad = conv_w.shape[-1] // 2
    x_h = torch.mean(x, dim=3, keepdim=True).view(b, c, h)
    x_w = torch.mean(x, dim=2, keepdim=True).view(b, c, w)
    cw2 = conv_w if conv_w2 is None else conv_w2
    gw2, gb2 = (gn_w, gn_b) if gn2 is None else gn2
    x_h = torch.sigmoid(F.group_norm(F.conv1d(x_h, conv_w, padding=pad, groups=groups),
                                     num_groups, gn_w, gn_b)).view(b, c, h, 1)
    x_w = torch.sigmoid(F.group_norm(F.conv1d(x_w, cw2, padding=pad, groups=groups),
                                     num_groups, gw2, gb2)).view(b, c, 1, w)
    return x * x_h * x_w


def randomise(module):
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return module


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('fused', [True, False])
def test_ela_matches_paper_listing(variant, fused):
    k, div, G = VARIANTS[variant]
    C = 64
    m = randomise(ELA(C, variant=variant.lower(), fused=fused))
    groups = C if div is None else C // div
    assert (m.kernel_size, m.conv_groups, m.num_groups) == (k, groups, G)
    x = torch.randn(2, C, 9, 13, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    w = m.conv.weight.detach().clone().requires_grad_()
    out = m(x)
    ref = ref_ela(x_ref, w, groups, m.gn.weight.detach(), m.gn.bias.detach(), G)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m.conv.weight.grad, w.grad, rtol=1e-4, atol=1e-4)


def test_ela_per_direction_matches_equations():
    m = randomise(ELA(32, variant='B', shared=False))
    x = torch.randn(2, 32, 8, 6)
    ref = ref_ela(x, m.conv_h.weight, 32, m.gn_h.weight, m.gn_h.bias, 16,
                  conv_w2=m.conv_w.weight, gn2=(m.gn_w.weight, m.gn_w.bias))
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)
    assert set(dict(m.named_parameters())) == {
        'conv_h.weight', 'conv_w.weight', 'gn_h.weight', 'gn_h.bias', 'gn_w.weight', 'gn_w.bias'}


@pytest.mark.parametrize('variant,per_c', [('T', 7), ('B', 9), ('S', 42), ('L', 58)])
def test_ela_parameter_counts(variant, per_c):
    for C in (64, 256):
        n = sum(p.numel() for p in ELA(C, variant).parameters())
        assert n == per_c * C
        assert sum(p.numel() for p in ELA(C, variant, shared=False).parameters()) == 2 * n


def test_ela_overrides_win_over_variant():
    m = ELA(48, 'T', kernel_size=3, conv_groups=4, num_groups=12)
    assert (m.kernel_size, m.conv_groups, m.num_groups) == (3, 4, 12)
    assert m.conv.weight.shape == (48, 12, 3)


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(in_channels=64, variant='X'), r"unknown variant 'X'.*'T', 'B', 'S', 'L'"),
    (dict(in_channels=48, variant='T'),
     r'ELA-T: GroupNorm num_groups=32 does not divide in_channels=48.*num_groups=24'),
    (dict(in_channels=8, variant='B'),
     r'num_groups=16 does not divide in_channels=8.*num_groups=8'),
    (dict(in_channels=12, variant='S', num_groups=4),
     r'ELA-S: conv groups C/8 need in_channels divisible by 8, got 12.*conv_groups='),
    (dict(in_channels=64, conv_groups=5), r'conv_groups=5 does not divide in_channels=64'),
    (dict(in_channels=64, kernel_size=4), r'kernel_size must be a positive odd number'),
])
def test_ela_bad_input_names_problem_and_fix(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ELA(**kwargs)


# ---------------------------------------------------------------- fused ops
def test_fused_kernels_are_built():
    assert has_fused_kernels(), 'ela_mm._ext missing: run `make setup` (or pip install -e .)'


def _toy_attend(p_h, p_w):
    """A small attention with parameters, mixing both strips, for the op-level tests."""
    def attend(z_h, z_w):
        mix = z_h.mean(-1, keepdim=True) - z_w.mean(-1, keepdim=True)
        return torch.sigmoid(z_h * p_h[:, None] + mix), torch.sigmoid(z_w * p_w[:, None] - mix)
    return attend


@pytest.mark.parametrize('shape', [(2, 3, 5, 7), (1, 2, 1, 9), (2, 2, 6, 1), (1, 1, 17, 19)])
@pytest.mark.parametrize('contiguous', [True, False])
def test_strip_attention_gradcheck_float64(shape, contiguous):
    torch.manual_seed(0)
    n, c, h, w = shape
    if contiguous:  # the C++ kernels
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    else:  # the PyTorch fallback of the same autograd function
        x = torch.randn(n, c, h + 1, w + 1, dtype=torch.float64)[:, :, 1:, 1:].requires_grad_()
        assert not x.is_contiguous()
    p_h = torch.randn(c, dtype=torch.float64, requires_grad=True)
    p_w = torch.randn(c, dtype=torch.float64, requires_grad=True)

    def fn(x, p_h, p_w):
        return strip_attention(x, _toy_attend(p_h, p_w), [p_h, p_w])
    assert torch.autograd.gradcheck(fn, (x, p_h, p_w))
    torch.testing.assert_close(fn(x, p_h, p_w),
                               strip_attention_reference(x, _toy_attend(p_h, p_w)))


def test_strip_attention_partial_requires_grad():
    """Only the parameters, or only x, need gradients (frozen layers, first layer)."""
    x = torch.randn(2, 4, 6, 5)
    p_h, p_w = torch.randn(4, requires_grad=True), torch.randn(4)
    strip_attention(x, _toy_attend(p_h, p_w), [p_h, p_w]).sum().backward()
    ref = p_h.detach().clone().requires_grad_()
    strip_attention_reference(x, _toy_attend(ref, p_w)).sum().backward()
    torch.testing.assert_close(p_h.grad, ref.grad)
    x.requires_grad_()
    strip_attention(x, _toy_attend(p_h.detach(), p_w), [p_h.detach(), p_w]).sum().backward()
    assert x.grad is not None and p_w.grad is None


@pytest.mark.parametrize('variant', ['B', 'S'])
@pytest.mark.parametrize('shared', [True, False])
def test_ela_gradcheck_float64(variant, shared):
    m = randomise(ELA(16, variant, num_groups=4, shared=shared)).double()
    x = torch.randn(2, 16, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    x = torch.randn(2, 16, 6, 6, dtype=torch.float64, requires_grad=True)  # square: one GN call
    assert torch.autograd.gradcheck(m, (x,))


@pytest.mark.parametrize('cls', [ELA, CoordAtt])
def test_fused_path_saves_one_full_size_tensor(cls):
    """The fused autograd node keeps x (and small strips), not x * a_h or other full-size
    intermediates; the naive path keeps several."""
    x = torch.randn(2, 32, 16, 16, requires_grad=True)
    full = x.numel()

    def saved_full(module):
        saved = []

        def pack(t):
            saved.append(t.numel())
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x)
        return sum(n for n in saved if n >= full)
    assert saved_full(cls(32)) == full
    assert saved_full(cls(32, fused=False)) >= 2 * full


@pytest.mark.parametrize('make', [
    lambda: torch.randn(2, 32, 1, 7),
    lambda: torch.randn(2, 32, 7, 1),
    lambda: torch.randn(1, 32, 1, 1),
    lambda: torch.randn(2, 32, 5, 11),
    lambda: torch.randn(2, 11, 32, 5).permute(0, 2, 3, 1),  # non-contiguous
    lambda: torch.randn(2, 32, 6, 10).to(memory_format=torch.channels_last),
])
@pytest.mark.parametrize('cls', [ELA, CoordAtt])
def test_odd_shapes_and_layouts(make, cls):
    x = make()
    m = randomise(cls(32) if cls is CoordAtt else cls(32, 'B'))
    ref = randomise(cls(32, fused=False) if cls is CoordAtt else cls(32, 'B', fused=False))
    m.eval(), ref.eval()
    out = m(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-6)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        assert out.is_contiguous(memory_format=torch.channels_last)


def test_batch_one_train_mode_backward():
    for m in (ELA(32, 'T'), CoordAtt(32), SE(32), ECA(32), CBAM(32)):
        m.train()
        x = torch.randn(1, 32, 6, 6, requires_grad=True)
        m(x).sum().backward()
        assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_low_precision(dtype):
    m = randomise(ELA(64, 'S'))
    x = torch.randn(2, 64, 14, 10)
    with torch.autocast('cpu', dtype=dtype):
        out = m(x.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), m(x), rtol=0.05, atol=0.05)
    x16 = x.to(dtype).requires_grad_()
    with torch.autocast('cpu', dtype=dtype):
        m(x16).float().sum().backward()
    assert x16.grad.dtype == dtype and torch.isfinite(x16.grad.float()).all()


# ---------------------------------------------------------------- registry and factory
@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmseg', 'mmpretrain'])
def test_build_plugin_layer_from_every_scope(scope):
    from mmcv.cnn import build_plugin_layer
    from mmengine.registry import DefaultScope
    import mmdet.registry, mmseg.registry, mmpretrain.registry  # noqa: E401,F401
    name = f'test_plugin_{scope}'
    cm = DefaultScope.overwrite_default_scope(scope)
    with cm:
        for cfg, cls, abbr in [(dict(type='ELA', variant='T'), ELA, 'ela'),
                               (dict(type='ELA-S'), ELA, 'ela'), (dict(type='SE'), SE, 'se'),
                               (dict(type='ECA'), ECA, 'eca'),
                               (dict(type='CoordAtt'), CoordAtt, 'coord_att'),
                               (dict(type='CBAM'), CBAM, 'cbam')]:
            layer_name, layer = build_plugin_layer(cfg, postfix='_1', in_channels=64)
            assert type(layer).__mro__[0] is cls or isinstance(layer, cls), (scope, cfg)
            assert layer_name == f'{abbr}_1'
    del name


def test_variant_alias_and_factory():
    assert build_attention('ELA-S', 64).variant == 'S'
    m = build_attention(dict(type='ELA', variant='l', shared=False), 64)
    assert (m.variant, m.shared) == ('L', False)
    assert build_attention('eca', 512, kernel_size=3).kernel_size == 3
    assert isinstance(build_attention('ca', 64), CoordAtt)
    with pytest.raises(ValueError, match=r"unknown attention 'sa'.*known"):
        build_attention('sa', 64)


# ---------------------------------------------------------------- peers vs references
def test_se_matches_reference():
    m = randomise(SE(64, reduction=16))
    x = torch.randn(2, 64, 7, 5)
    y = x.mean((2, 3))
    y = torch.sigmoid(F.linear(torch.relu(F.linear(y, m.fc1.weight[:, :, 0, 0], m.fc1.bias)),
                               m.fc2.weight[:, :, 0, 0], m.fc2.bias))
    torch.testing.assert_close(m(x), x * y[:, :, None, None])
    assert sum(p.numel() for p in m.parameters()) == 2 * 64 * 4 + 4 + 64


@pytest.mark.parametrize('C,k', [(64, 3), (256, 5), (512, 5), (2048, 7), (16, 3)])
def test_eca_kernel_rule_and_reference(C, k):
    m = randomise(ECA(C))
    assert m.kernel_size == k and sum(p.numel() for p in m.parameters()) == k
    x = torch.randn(2, C, 4, 3)
    # the ECA authors' formulation: avg pool -> conv1d over channels as a sequence
    y = nn.functional.adaptive_avg_pool2d(x, 1)
    y = F.conv1d(y.squeeze(-1).transpose(-1, -2), m.conv.weight, padding=(k - 1) // 2)
    y = torch.sigmoid(y.transpose(-1, -2).unsqueeze(-1))
    torch.testing.assert_close(m(x), x * y.expand_as(x))


def test_coord_att_matches_reference():
    C = 64
    m = randomise(CoordAtt(C)).eval()
    mip = max(8, C // 32)
    assert m.conv1.out_channels == mip
    x = torch.randn(2, C, 6, 9)
    # Hou et al.'s reference: adaptive pools, cat on H, conv1 -> BN -> h_swish, split, convs
    n, c, h, w = x.shape
    x_h = F.adaptive_avg_pool2d(x, (None, 1))
    x_w = F.adaptive_avg_pool2d(x, (1, None)).permute(0, 1, 3, 2)
    y = torch.cat([x_h, x_w], dim=2)
    y = F.conv2d(y, m.conv1.weight, m.conv1.bias)
    y = F.batch_norm(y, m.bn1.running_mean, m.bn1.running_var, m.bn1.weight, m.bn1.bias)
    y = y * F.relu6(y + 3) / 6
    y_h, y_w = torch.split(y, [h, w], dim=2)
    a_h = torch.sigmoid(F.conv2d(y_h, m.conv_h.weight, m.conv_h.bias))
    a_w = torch.sigmoid(F.conv2d(y_w.permute(0, 1, 3, 2), m.conv_w.weight, m.conv_w.bias))
    torch.testing.assert_close(m(x), x * a_w * a_h, rtol=1e-5, atol=1e-6)
    assert sum(p.numel() for p in m.parameters()) == C * mip + mip + 2 * mip + 2 * (mip * C + C)


def test_cbam_matches_reference():
    m = randomise(CBAM(64, reduction=16))
    x = torch.randn(2, 64, 7, 5)
    w1, b1 = m.mlp[0].weight[:, :, 0, 0], m.mlp[0].bias
    w2, b2 = m.mlp[2].weight[:, :, 0, 0], m.mlp[2].bias

    def mlp(v):
        return F.linear(torch.relu(F.linear(v, w1, b1)), w2, b2)
    ca = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.flatten(2).max(-1).values))
    x1 = x * ca[:, :, None, None]
    sa = torch.cat([x1.mean(1, keepdim=True), x1.max(1, keepdim=True).values], 1)
    ref = x1 * torch.sigmoid(F.conv2d(sa, m.spatial.weight, padding=3))
    torch.testing.assert_close(m(x), ref)
    assert sum(p.numel() for p in m.parameters()) == 2 * 64 * 4 + 4 + 64 + 2 * 49


# ---------------------------------------------------------------- export
class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.ela = ELA(32, 'T')
        self.ca = CoordAtt(32)

    def forward(self, x):
        return self.ca(self.ela(self.conv(x)))


def test_jit_trace_matches_eager():
    net = randomise(_Net()).eval()
    x = torch.randn(1, 3, 20, 24)
    traced = torch.jit.trace(net, x)
    torch.testing.assert_close(traced(x), net(x), rtol=1e-5, atol=1e-6)
    x2 = torch.randn(2, 3, 12, 16)  # the traced graph is not tied to the example's size
    torch.testing.assert_close(traced(x2), net(x2), rtol=1e-5, atol=1e-6)
    square = torch.jit.trace(net, torch.randn(1, 3, 16, 16))  # nor to a square example
    torch.testing.assert_close(square(x2), net(x2), rtol=1e-5, atol=1e-6)


def test_onnx_export_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip('onnxruntime', reason='onnxruntime not installed (tests extra)')
    pytest.importorskip('onnx', reason='onnx not installed (tests extra)')
    net = randomise(_Net()).eval()
    x = torch.randn(1, 3, 20, 24)
    path = str(tmp_path / 'ela.onnx')
    torch.onnx.export(net, (x,), path, input_names=['x'], output_names=['y'],
                      dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}}, dynamo=False)
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for inp in (x, torch.randn(2, 3, 16, 8)):
        (out,) = sess.run(None, {'x': inp.numpy()})
        assert math.isclose(float((torch.from_numpy(out) - net(inp)).abs().max()), 0,
                            abs_tol=1e-4)


@pytest.mark.parametrize('variant', ['T', 'B'])
@pytest.mark.parametrize('shape', [(2, 64, 9, 13), (1, 64, 12, 12), (2, 64, 1, 5)])
def test_fused_inference_kernel_matches_reference(variant, shape):
    """Inference takes the one-pass depthwise conv + GroupNorm + sigmoid kernel; same result."""
    m = randomise(ELA(64, variant)).eval()
    ref = ELA(64, variant, fused=False).eval()
    ref.load_state_dict(m.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref(x), rtol=1e-5, atol=1e-6)
        z = x.mean(3)
        assert dwconv_gn_sigmoid(z, m.conv.weight, m.gn) is not None  # the kernel did run


def ref_dwconv_gn_sigmoid(z, w, gamma, beta, groups):
    return torch.sigmoid(F.group_norm(F.conv1d(z, w, padding=w.shape[-1] // 2,
                                               groups=z.shape[1]), groups, gamma, beta))


@pytest.mark.parametrize('shape,groups,k', [((3, 8, 11), 2, 7), ((2, 4, 1), 2, 5),
                                            ((1, 6, 4), 1, 7), ((2, 4, 9), 4, 3),
                                            ((2, 6, 16), 3, 11)])
def test_dwconv_gn_sigmoid_kernel_gradcheck_and_reference(shape, groups, k):
    """The training kernels (depthwise conv + GroupNorm + sigmoid as one autograd node):
    gradcheck in float64, and forward/backward equal to the functional ops in float32. Shapes
    cover L=1, strips shorter than the kernel, one channel per group, one group, and a kernel
    size without an unrolled loop (11)."""
    torch.manual_seed(0)
    c = shape[1]
    z = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w, gamma, beta = (torch.randn(s, dtype=torch.float64, requires_grad=True)
                      for s in ((c, 1, k), c, c))

    def fn(z, w, gamma, beta):  # a GroupNorm's attributes, with these tensors as parameters
        gn = SimpleNamespace(weight=gamma, bias=beta, num_groups=groups, eps=1e-5, affine=True)
        return dwconv_gn_sigmoid(z, w, gn)
    assert type(fn(z, w, gamma, beta).grad_fn).__name__ == '_DwConvGNSigmoidBackward'
    assert torch.autograd.gradcheck(fn, (z, w, gamma, beta))

    args = [t.detach().float().requires_grad_() for t in (z, w, gamma, beta)]
    ref_args = [t.detach().clone().requires_grad_() for t in args]
    out, ref = fn(*args), ref_dwconv_gn_sigmoid(*ref_args, groups)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(out)
    out.backward(g)
    ref.backward(g)
    for a, b in zip(args, ref_args):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-5)
