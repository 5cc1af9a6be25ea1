"""The attention modules leave the fused ops for tracing, scripting and export: the traced graph,
the TorchScript module and the ONNX model compute the eager result, on other input sizes too."""

import math

import pytest
import torch
import torch.nn as nn

from ela_mm import CBAM, ECA, ELA, SE, CoordAtt, build_attention


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 32, 3, padding=1)
        self.ela = ELA(32, 'T')
        self.ca = CoordAtt(32)

    def forward(self, x):
        return self.ca(self.ela(self.conv(x)))


def test_jit_trace_matches_eager(randomise):
    net = randomise(_Net()).eval()
    x = torch.randn(1, 3, 20, 24)
    traced = torch.jit.trace(net, x)
    torch.testing.assert_close(traced(x), net(x), rtol=1e-5, atol=1e-6)
    x2 = torch.randn(2, 3, 12, 16)  # the traced graph is not tied to the example's size
    torch.testing.assert_close(traced(x2), net(x2), rtol=1e-5, atol=1e-6)
    square = torch.jit.trace(net, torch.randn(1, 3, 16, 16))  # nor to a square example
    torch.testing.assert_close(square(x2), net(x2), rtol=1e-5, atol=1e-6)
    assert 'StripAttention' not in str(traced.graph)  # the plain expression was traced


def test_onnx_export_runs_in_onnxruntime(tmp_path, randomise):
    ort = pytest.importorskip('onnxruntime', reason='onnxruntime not installed (tests extra)')
    pytest.importorskip('onnx', reason='onnx not installed (tests extra)')
    net = randomise(_Net()).eval()
    x = torch.randn(1, 3, 20, 24)
    path = str(tmp_path / 'ela.onnx')
    torch.onnx.export(
        net,
        (x,),
        path,
        input_names=['x'],
        output_names=['y'],
        dynamic_axes={'x': {0: 'n', 2: 'h', 3: 'w'}},
        dynamo=False,
    )
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for inp in (x, torch.randn(2, 3, 16, 8)):
        (out,) = sess.run(None, {'x': inp.numpy()})
        assert math.isclose(float((torch.from_numpy(out) - net(inp)).abs().max()), 0, abs_tol=1e-4)


SCRIPTED = [
    lambda: ELA(32, 'T'),
    lambda: ELA(32, 'B', shared=False),
    lambda: ELA(32, 'L'),
    lambda: build_attention(dict(type='ELA-S'), 32),  # a registered variant class
    lambda: SE(32),
    lambda: ECA(32),
    lambda: CBAM(32),
    lambda: CoordAtt(32),
]


@pytest.mark.parametrize(
    'make', SCRIPTED, ids=['ELA-T', 'ELA-B-unshared', 'ELA-L', 'ELA-S', 'SE', 'ECA', 'CBAM', 'CA']
)
def test_torch_jit_script_matches_eager_and_saves(make, randomise, tmp_path):
    module = randomise(make()).eval()
    scripted = torch.jit.script(module)
    path = str(tmp_path / 'scripted.pt')
    torch.jit.save(scripted, path)
    loaded = torch.jit.load(path)
    for x in (torch.randn(2, 32, 7, 9), torch.randn(1, 32, 12, 5)):
        with torch.no_grad():
            want = module(x)  # the fused inference path
            torch.testing.assert_close(scripted(x), want, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(loaded(x), want, rtol=1e-5, atol=1e-6)
    # the scripted module trains: gradients as the reference expression gives them
    x = torch.randn(2, 32, 6, 6, requires_grad=True)
    scripted.train()(x).square().sum().backward()
    got = x.grad.clone()
    x.grad = None
    module.train().forward_reference(x).square().sum().backward()
    torch.testing.assert_close(got, x.grad, rtol=1e-5, atol=1e-6)
