"""The peers against their authors' formulations: SE, ECA, Coordinate Attention, CBAM."""

import pytest
import torch
import torch.nn.functional as F

from ela_mm import CBAM, ECA, ELA, SE, CoordAtt


@pytest.mark.parametrize('C,r', [(64, 16), (256, 16), (24, 8)])
def test_se_matches_reference(C, r, randomise):
    m = randomise(SE(C, reduction=r))
    x = torch.randn(2, C, 7, 5)
    y = x.mean((2, 3))
    y = torch.sigmoid(
        F.linear(
            torch.relu(F.linear(y, m.fc1.weight[:, :, 0, 0], m.fc1.bias)),
            m.fc2.weight[:, :, 0, 0],
            m.fc2.bias,
        )
    )
    torch.testing.assert_close(m(x), x * y[:, :, None, None])
    s = C // r
    assert m.fc1.out_channels == s
    assert sum(p.numel() for p in m.parameters()) == 2 * C * s + s + C


@pytest.mark.parametrize('C,k', [(64, 3), (256, 5), (512, 5), (2048, 7), (16, 3)])
def test_eca_kernel_rule_and_reference(C, k, randomise):
    m = randomise(ECA(C))
    assert m.kernel_size == k and sum(p.numel() for p in m.parameters()) == k
    x = torch.randn(2, C, 4, 3)
    # the ECA authors' formulation: avg pool -> conv1d over channels as a sequence
    y = F.adaptive_avg_pool2d(x, 1)
    y = F.conv1d(y.squeeze(-1).transpose(-1, -2), m.conv.weight, padding=(k - 1) // 2)
    y = torch.sigmoid(y.transpose(-1, -2).unsqueeze(-1))
    torch.testing.assert_close(m(x), x * y.expand_as(x))


def coord_att_reference(m, x):
    """Hou et al.'s reference: adaptive pools, cat on H, conv1 -> BN -> h_swish, split, convs."""
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
    return x * a_w * a_h


@pytest.mark.parametrize(
    'C,reduction,mip', [(64, 32, 8), (512, 32, 16), (1024, 32, 32), (256, 8, 32), (96, 16, 8)]
)
@pytest.mark.parametrize('fused', [True, False])
def test_coord_att_matches_reference(C, reduction, mip, fused, randomise):
    """mip = max(8, C // r): the bottleneck width grows past 8 from C = 512 on (r = 32)."""
    m = randomise(CoordAtt(C, reduction=reduction, fused=fused)).eval()
    with torch.no_grad():
        m.bn1.running_var.uniform_(0.5, 2.0)
        m.bn1.running_mean.normal_()
    assert m.conv1.out_channels == mip
    x = torch.randn(2, C, 6, 9)
    torch.testing.assert_close(m(x), coord_att_reference(m, x), rtol=1e-5, atol=1e-6)
    assert sum(p.numel() for p in m.parameters()) == C * mip + mip + 2 * mip + 2 * (mip * C + C)


def test_coord_att_training_updates_batchnorm_once(randomise):
    """In training the BN statistics move exactly as in the reference (one update per call)."""
    m = randomise(CoordAtt(64)).train()
    ref = randomise(CoordAtt(64, fused=False)).train()
    x = torch.randn(2, 64, 6, 9, requires_grad=True)
    m(x).sum().backward()
    ref(x).sum().backward()
    assert int(m.bn1.num_batches_tracked) == 1
    torch.testing.assert_close(m.bn1.running_mean, ref.bn1.running_mean)
    torch.testing.assert_close(m.bn1.running_var, ref.bn1.running_var)


def test_cbam_matches_reference(randomise):
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


@pytest.mark.parametrize(
    'cls,kwargs,pattern',
    [
        (SE, dict(in_channels=0), 'SE: in_channels must be a positive integer, got 0'),
        (CoordAtt, dict(in_channels=8, reduction=0), 'CoordAtt: reduction must be a positive int'),
        (ECA, dict(in_channels=64, kernel_size=4), 'ECA: kernel_size must be a positive odd'),
        (
            CBAM,
            dict(in_channels=64, spatial_kernel=6),
            'CBAM: spatial_kernel must be a positive odd',
        ),
    ],
)
def test_peer_bad_input(cls, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        cls(**kwargs)


@pytest.mark.parametrize('cls', [ELA, SE, ECA, CoordAtt, CBAM])
@pytest.mark.parametrize(
    'value,pattern',
    [
        (
            '256',
            r"in_channels must be a positive integer, got '256' \(str\) \(write in_channels=256\)",
        ),
        (
            64.0,
            r'in_channels must be a positive integer, got 64.0 \(float\) \(write in_channels=64\)',
        ),
        (True, r'in_channels must be a positive integer, got True \(bool\)$'),
        ('wide', r"in_channels must be a positive integer, got 'wide' \(str\)$"),
    ],
)
def test_channels_that_are_not_an_integer_are_named(cls, value, pattern):
    """``ELA('256')`` and its kin: a TypeError naming the module and the argument, not a raw
    comparison error from inside the constructor."""
    name = 'ELA-B' if cls is ELA else cls.__name__
    with pytest.raises(TypeError, match=f'^{name}: {pattern}'):
        cls(value)
