"""ELA and CA leave the fused ops for tracing and export: the traced graph and the ONNX model
compute the eager result, on other input sizes too."""

import math

import pytest
import torch
import torch.nn as nn

from ela_mm import ELA, CoordAtt


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
