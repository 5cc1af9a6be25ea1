"""ELA: the paper's Figure 4 listing and equations as independent references, the variants,
parameter counts, overrides, errors, gradients, and which path runs."""

import pytest
import torch
import torch.nn.functional as F

from ela_mm import ELA

VARIANTS = {'T': (5, None, 32), 'B': (7, None, 16), 'S': (5, 8, 16), 'L': (7, 8, 16)}


def ref_ela(x, conv_w, groups, gn_w, gn_b, num_groups, conv_w2=None, gn2=None):
    """The paper's Figure 4 listing, written with functional ops (second set: per-direction)."""
    b, c, h, w = x.shape
    pad = conv_w.shape[-1] // 2
    x_h = torch.mean(x, dim=3, keepdim=True).view(b, c, h)
    x_w = torch.mean(x, dim=2, keepdim=True).view(b, c, w)
    cw2 = conv_w if conv_w2 is None else conv_w2
    gw2, gb2 = (gn_w, gn_b) if gn2 is None else gn2
    x_h = torch.sigmoid(
        F.group_norm(F.conv1d(x_h, conv_w, padding=pad, groups=groups), num_groups, gn_w, gn_b)
    ).view(b, c, h, 1)
    x_w = torch.sigmoid(
        F.group_norm(F.conv1d(x_w, cw2, padding=pad, groups=groups), num_groups, gw2, gb2)
    ).view(b, c, 1, w)
    return x * x_h * x_w


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('fused', [True, False])
def test_ela_matches_paper_listing(variant, fused, randomise):
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


@pytest.mark.parametrize('fused', [True, False])
def test_ela_per_direction_matches_equations(fused, randomise):
    m = randomise(ELA(32, variant='B', shared=False, fused=fused))
    x = torch.randn(2, 32, 8, 6)
    ref = ref_ela(
        x,
        m.conv_h.weight,
        32,
        m.gn_h.weight,
        m.gn_h.bias,
        16,
        conv_w2=m.conv_w.weight,
        gn2=(m.gn_w.weight, m.gn_w.bias),
    )
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)
    assert set(dict(m.named_parameters())) == {
        'conv_h.weight',
        'conv_w.weight',
        'gn_h.weight',
        'gn_h.bias',
        'gn_w.weight',
        'gn_w.bias',
    }


@pytest.mark.parametrize('shared', [True, False])
def test_ela_num_groups_override_reaches_every_groupnorm(shared, randomise):
    m = randomise(ELA(32, variant='B', shared=shared, num_groups=4))
    norms = [m.gn] if shared else [m.gn_h, m.gn_w]
    assert [gn.num_groups for gn in norms] == [4] * len(norms)
    x = torch.randn(2, 32, 5, 7)
    conv_h, conv_w = (m.conv, m.conv) if shared else (m.conv_h, m.conv_w)
    gn_h, gn_w = (m.gn, m.gn) if shared else (m.gn_h, m.gn_w)
    ref = ref_ela(
        x,
        conv_h.weight,
        32,
        gn_h.weight,
        gn_h.bias,
        4,
        conv_w2=conv_w.weight,
        gn2=(gn_w.weight, gn_w.bias),
    )
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)


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
    assert m.gn.num_groups == 12 and m.conv.groups == 4 and m.conv.padding == (1,)


@pytest.mark.parametrize(
    'kwargs,pattern',
    [
        (dict(in_channels=64, variant='X'), r"unknown variant 'X'.*'T', 'B', 'S', 'L'"),
        (
            dict(in_channels=48, variant='T'),
            r'ELA-T: GroupNorm num_groups=32 does not divide in_channels=48.*num_groups=24',
        ),
        (
            dict(in_channels=8, variant='B'),
            r'num_groups=16 does not divide in_channels=8.*num_groups=8',
        ),
        (
            dict(in_channels=12, variant='S', num_groups=4),
            r'ELA-S: conv groups C/8 need in_channels divisible by 8, got 12.*conv_groups=',
        ),
        (dict(in_channels=64, conv_groups=5), r'conv_groups=5 does not divide in_channels=64'),
        (dict(in_channels=64, kernel_size=4), r'kernel_size must be a positive odd number'),
        (dict(in_channels=0), r'ELA-B: in_channels must be a positive integer, got 0'),
    ],
)
def test_ela_bad_input_names_problem_and_fix(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        ELA(**kwargs)


@pytest.mark.parametrize('variant', ['B', 'S'])
@pytest.mark.parametrize('shared', [True, False])
def test_ela_gradcheck_float64(variant, shared, randomise):
    m = randomise(ELA(16, variant, num_groups=4, shared=shared)).double()
    for shape in ((2, 16, 5, 6), (2, 16, 6, 6)):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(m, (x,))


def test_forward_reference_is_the_listing(randomise):
    """The readable expression in the model file is the maths: equal to the listing, and what
    forward runs when fused=False."""
    m = randomise(ELA(32, 'S'))
    x = torch.randn(2, 32, 7, 9)
    ref = ref_ela(x, m.conv.weight, m.conv_groups, m.gn.weight, m.gn.bias, m.num_groups)
    torch.testing.assert_close(m.forward_reference(x), ref, rtol=1e-5, atol=1e-6)
    m.fused = False
    calls = []
    m.forward_reference = lambda t: calls.append(t) or ref
    assert m(x) is ref and len(calls) == 1


def test_extra_repr_names_the_settings():
    assert repr(ELA(64, 'S')).startswith(
        'ELA(\n  variant=S, in_channels=64, kernel_size=5, conv_groups=8, num_groups=16, '
        'shared=True'
    )
