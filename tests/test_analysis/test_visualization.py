"""The attention picture is the module's gate, row by row and column by column (not transposed)."""

import torch

from ela_mm import ELA, CoordAtt
from ela_mm.analysis.visualization import strip_attention_map


def test_map_is_the_gate_of_each_position(randomise):
    for m in (randomise(ELA(16, 'B', num_groups=4)).eval(), randomise(CoordAtt(16)).eval()):
        x = torch.randn(2, 16, 5, 9)  # H != W: a transposed map has the wrong shape
        heat = strip_attention_map(m, x)
        assert heat.shape == (5, 9)
        with torch.no_grad():
            gate = m(x)[0] / x[0]  # y = x * a_h * a_w: the gate per channel and position
        torch.testing.assert_close(heat, gate.mean(0), rtol=1e-4, atol=1e-5)
