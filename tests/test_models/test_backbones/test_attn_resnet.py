"""AttnResNet: mmpretrain's ResNet with attention at the end of every residual branch."""

import pytest
import torch
import torch.nn as nn
from mmpretrain.models.backbones import ResNet

from ela_mm import ELA, SE, AttnResNet
from ela_mm.models.backbones.attn_resnet import AttnBasicBlock, AttnBottleneck


@pytest.mark.parametrize('depth', [18, 50])
def test_attn_resnet(depth):
    torch.manual_seed(0)
    upstream, plain = ResNet(depth), AttnResNet(depth)
    upstream.eval(), plain.eval()  # (mmpretrain's train() returns None: no chaining)
    assert list(plain.state_dict()) == list(upstream.state_dict())
    res = plain.load_state_dict(upstream.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == []
    x = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(plain(x), upstream(x))
    model = AttnResNet(
        depth, attention=dict(type='ELA', variant='B'), attention_stages=(False, True, True, True)
    )
    elas = [m for m in model.modules() if isinstance(m, ELA)]
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    assert len(elas) == sum(blocks[1:])
    widths = sorted({m.in_channels for m in elas})
    assert widths == ([128, 256, 512] if depth == 18 else [512, 1024, 2048])
    out = model(x)
    out[-1].sum().backward()
    assert all(m.conv.weight.grad is not None for m in elas)
    with pytest.raises(ValueError, match='attention_stages needs 4 flags'):
        AttnResNet(18, attention='ela', attention_stages=(True,))


def test_attention_sits_before_the_addition():
    """An attention that zeroes the residual branch turns every block into identity + ReLU."""
    block = AttnBasicBlock(8, 8, attention=dict(type='SE'))
    block.eval()
    with torch.no_grad():
        block.attention.fc2.bias.fill_(-1e4)  # sigmoid -> 0
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize(
    'block,last_norm',
    [
        (AttnBasicBlock(8, 8, attention='se'), 'norm2'),
        (AttnBottleneck(32, 32, attention='se'), 'norm3'),
    ],
)
def test_attention_takes_the_last_norm_output(block, last_norm):
    """The attention's input is the output of the branch's last BatchNorm (after it, not before
    it): what SE/ECA/CA/ELA do in ResNets."""
    seen = {}
    getattr(block, last_norm).register_forward_hook(lambda m, i, o: seen.update(norm=o))
    block.attention.register_forward_hook(lambda m, i, o: seen.update(att=i[0]))
    block.eval()
    with torch.no_grad():
        block(torch.randn(1, block.in_channels, 6, 6))
    assert seen['att'] is seen['norm']
    assert isinstance(block.attention, SE) and block.attention.fc1.in_channels == block.out_channels


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    a = AttnResNet(18, attention='ela_b', with_cp=True)
    b = AttnResNet(18, attention='ela_b')
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    for m in (a, b):
        m.train()
        m(x)[-1].sum().backward()
    ga = [p.grad for p in a.parameters()]
    gb = [p.grad for p in b.parameters()]
    for u, v in zip(ga, gb):
        torch.testing.assert_close(u, v)
    assert isinstance(a.layer1[0].attention, nn.Module)
