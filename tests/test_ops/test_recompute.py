"""Memory-lean attention (ela_mm.ops.recompute): the attention keeps what the layer before it
keeps instead of its own input, with gradients, running statistics and outputs unchanged."""

import os.path as osp

import pytest
import torch
import torch.nn as nn

from ela_mm.analysis.memory import saved_bytes
from ela_mm.analysis.synthetic import synthetic_batch
from ela_mm.models.attention import CBAM, ECA, ELA, SE, CoordAtt
from ela_mm.ops import rebuild_source
from ela_mm.utils.config import build_model, load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MODULES = {
    'ELA-T': lambda c: ELA(c, 'T'),
    'ELA-B': lambda c: ELA(c, 'B'),
    'CA': CoordAtt,
    'SE': SE,
    'ECA': ECA,
    'CBAM': CBAM,
}
PRODUCERS = {  # the layers an attention follows in the shipped families
    'bn': lambda x: x,
    'bn+silu_': nn.SiLU(inplace=True),  # CSPNeXt (RTMDet)
    'bn+swish': lambda x: x * torch.sigmoid(x),  # mmcv Swish (YOLOX)
    'bn+relu6_': nn.ReLU6(inplace=True),  # MobileNetV2
    'bn+hswish': nn.Hardswish(),
    'bn+relu': torch.relu,  # keeps its output, which is the attention's input: nothing to do
}


def run(make, producer, lean, randomise, dtype=torch.float32):
    """A conv, a BatchNorm (training), the producer and the attention; forward + backward."""
    torch.manual_seed(0)
    conv, bn, att = nn.Conv2d(8, 32, 3, padding=1), nn.BatchNorm2d(32), make(32)
    randomise(att)
    att.lean = lean
    for m in (conv, bn, att):
        m.to(dtype)
    inp = torch.randn(2, 8, 12, 10, dtype=dtype, requires_grad=True)
    forward = att if lean else att.forward_reference  # the plain composition: no function of ours
    y = forward(PRODUCERS[producer](bn(conv(inp))))
    (y * torch.linspace(-1, 1, y.numel(), dtype=dtype).view_as(y)).sum().backward()
    params = [*conv.parameters(), *bn.parameters(), *att.parameters()]
    return y.detach(), [inp.grad] + [p.grad for p in params], bn


@pytest.mark.parametrize('producer', list(PRODUCERS))
@pytest.mark.parametrize('name', list(MODULES))
def test_lean_equals_the_plain_composition(name, producer, randomise):
    y1, g1, bn1 = run(MODULES[name], producer, True, randomise)
    y0, g0, bn0 = run(MODULES[name], producer, False, randomise)
    # float32: the C++ strip kernels (ELA, CA) and ATen sum in CPU-dependent orders (AVX2 vs
    # AVX-512): a few ulps of |y| <= ~4; a wrong gate errs by more than 1e-3
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-6)
    # float32 rounding: the fused kernels sum in another order; the conv bias before BatchNorm
    # has a zero gradient in exact arithmetic (rounding noise only), hence a common scale
    scale = max(b.abs().max().item() for b in g0)
    for a, b in zip(g1, g0):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * scale)
    # running statistics: updated exactly once, by the forward (backward rebuilds x from the
    # batch statistics BatchNorm saved and never calls BatchNorm again)
    assert bn1.num_batches_tracked.item() == 1
    torch.testing.assert_close(bn1.running_mean, bn0.running_mean, rtol=0, atol=0)
    torch.testing.assert_close(bn1.running_var, bn0.running_var, rtol=0, atol=0)


@pytest.mark.parametrize('name', ['ELA-B', 'CA', 'SE', 'ECA', 'CBAM'])
def test_lean_gradcheck_float64(name, randomise):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(16).double()
    att = randomise(MODULES[name](16)).double()
    att.lean = True
    z = torch.randn(2, 16, 6, 5, dtype=torch.float64, requires_grad=True)

    def f(z, w, b):
        bn.weight.data, bn.bias.data = w, b  # gradcheck perturbs its inputs
        x = nn.functional.silu(nn.functional.batch_norm(z, None, None, w, b, training=True))
        assert rebuild_source(x) is not None  # the lean path is the one checked
        return att(x)

    w = torch.rand(16, dtype=torch.float64, requires_grad=True) + 0.5
    b = torch.randn(16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (z, w, b), atol=1e-6)


@pytest.mark.parametrize('name', list(MODULES))
def test_lean_keeps_no_full_size_tensor_of_its_own(name, randomise):
    def kept(lean):
        torch.manual_seed(0)
        bn, att = nn.BatchNorm2d(32), randomise(MODULES[name](32))
        att.lean = lean
        z = torch.randn(2, 32, 64, 64, requires_grad=True)
        plain = saved_bytes(lambda: bn(z))['bytes']
        return saved_bytes(lambda: att(bn(z)))['bytes'] - plain

    full = 2 * 32 * 64 * 64 * 4
    assert kept(False) >= full  # without: at least the input once more
    assert kept(True) < full / 4  # with: strips and small tensors only


def test_fallbacks_keep_the_input():
    z = torch.randn(1, 4, 3, 3, requires_grad=True)
    assert rebuild_source(z) is None  # a leaf
    assert rebuild_source(z + 1) is None  # a sum: nothing saved to rebuild it from
    bn = nn.BatchNorm2d(4)
    bn.bias.requires_grad_(False)  # a frozen bias is in no saved tensor
    assert rebuild_source(bn(z)) is None
    bn = nn.BatchNorm2d(4).eval()  # eval-mode BatchNorm (norm_eval): from the running stats
    x = bn(z)
    src = rebuild_source(x)
    torch.testing.assert_close(src.fn(*src.tensors), x, rtol=0, atol=1e-6)


def test_lean_is_a_flag_not_a_state():
    for make in MODULES.values():
        a, b = make(32), make(32)
        b.lean = False
        assert list(a.state_dict()) == list(b.state_dict())


def _ratio(plain_cfg: str, att_cfg: str, shape) -> float:
    out = []
    for name in (plain_cfg, att_cfg):
        cfg = load_config(osp.join(ROOT, 'configs', name))
        model = build_model(cfg).train()
        torch.manual_seed(0)
        inputs, samples = synthetic_batch(cfg.default_scope, 2, shape, 1000)

        def step():
            losses = model(inputs, samples, mode='loss')
            return sum(v.sum() for v in losses.values() if isinstance(v, torch.Tensor))

        out.append(saved_bytes(step, model)['bytes'])
    return out[1] / out[0]


@pytest.mark.parametrize('att', ['ela-b', 'se', 'ca', 'eca', 'cbam'])
def test_resnet50_keeps_at_most_5_percent_more_for_backward(att):
    ratio = _ratio(
        'resnet/resnet50_8xb32_in1k.py', f'resnet/resnet50-{att}_8xb32_in1k.py', (224, 224)
    )
    assert ratio <= 1.05, f'ResNet-50 + {att}: {ratio:.3f} of the plain model'


GATES = {  # the gate functions of the channel-gate modules and CBAM, and their input shapes
    'SE': {'gate': [(2, 32, 1, 1)]},
    'ECA': {'gate': [(2, 32, 1, 1)]},
    'CBAM': {'channel_gate': [(2, 32, 1, 1)], 'spatial_gate': [(2, 2, 7, 5)]},
}


@pytest.mark.parametrize('name', list(GATES))
@pytest.mark.parametrize('lean', [True, False])
def test_gates_run_once_and_backward_again(name, lean, randomise, monkeypatch):
    """SE and ECA (ela_mm.ops.channel_gate), CBAM (ela_mm.ops.cbam_gates): backward uses the gate
    graphs kept from forward (each gate runs once per step, lean or not), equals the plain
    composition in float64, and survives a second backward (retain_graph)."""
    torch.manual_seed(0)
    bn, att = nn.BatchNorm2d(32).double(), randomise(MODULES[name](32)).double()
    att.lean = lean
    calls = {k: [] for k in GATES[name]}
    for k in calls:
        fn = getattr(att, k)
        monkeypatch.setattr(att, k, lambda *t, k=k, fn=fn: calls[k].append(t[0].shape) or fn(*t))
    z = torch.randn(2, 32, 7, 5, dtype=torch.double, requires_grad=True)
    y = att(bn(z))
    g = torch.randn_like(y)
    inputs = [z, *bn.parameters(), *att.parameters()]
    first = torch.autograd.grad(y, inputs, g, retain_graph=True)
    second = torch.autograd.grad(y, inputs, g)
    assert calls == GATES[name]
    monkeypatch.undo()
    want = torch.autograd.grad(att.forward_reference(bn(z)), inputs, g)
    for a, b, w in zip(first, second, want):
        torch.testing.assert_close(a, w, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(b, w, rtol=1e-12, atol=1e-12)


def test_cbam_shares_the_gradient_of_tied_maxima(randomise):
    """CBAM's max pools with ties (a channel of zeros after ReLU; pixels where every channel is
    zero): the gradient is shared among the tied positions as ``torch.amax`` shares it."""
    torch.manual_seed(0)
    att = randomise(CBAM(16, reduction=4)).double()
    w = torch.randn(2, 16, 6, 5, dtype=torch.double)
    w[:, 3] = -1.0  # channel 3: all zero after ReLU, every position ties for its maximum
    w[:, :, 2, 1:4] = -1.0  # these pixels: every channel ties
    w[0, 5, 4, 4] = w[0, 5, 0, 0] = w[0, 5].max() + 1  # two equal maxima in one channel
    w.requires_grad_()
    inputs = [w, *att.parameters()]
    g = torch.randn(2, 16, 6, 5, dtype=torch.double)
    got = torch.autograd.grad(att(torch.relu(w)), inputs, g)
    want = torch.autograd.grad(att.forward_reference(torch.relu(w)), inputs, g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('name', list(GATES))
def test_gates_under_autocast_equal_the_plain_composition(name, dtype, randomise):
    """Under CPU autocast the kept gate graphs run in the low dtype, as the plain composition's
    1x1 convs do: same output, same gradients to float32 rounding."""
    out = []
    for lean in (True, False):
        torch.manual_seed(0)
        bn, att = nn.BatchNorm2d(32), randomise(MODULES[name](32))
        att.lean = lean
        z = torch.randn(2, 32, 12, 10, requires_grad=True)
        with torch.autocast('cpu', dtype=dtype):
            y = att(bn(z))
        out.append((y, torch.autograd.grad(y, [z, *att.parameters()], torch.ones_like(y))))
    (y1, g1), (y0, g0) = out
    assert y1.dtype == y0.dtype
    torch.testing.assert_close(y1, y0, rtol=0, atol=1e-6)
    # the gradients meet a cast to the low dtype after sums whose order is CPU-dependent: one
    # rounding step of that dtype apart at most (exactness is the float64 tests' job)
    tol = dict(rtol=2 * torch.finfo(dtype).eps, atol=1e-5)
    for a, b in zip(g1, g0):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, **tol)
