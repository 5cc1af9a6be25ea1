"""ELA and Coordinate Attention under torch.compile (inductor): the eager results forward and
backward, no graph break inside the modules, no recompilation when the input size changes."""

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from ela_mm.models.attention import ELA, CoordAtt

MODULES = {
    'ELA-T': lambda: ELA(32, 'T'),
    'ELA-B': lambda: ELA(32, 'B'),
    'ELA-S': lambda: ELA(32, 'S'),
    'ELA-B unshared': lambda: ELA(32, 'B', shared=False),
    'CA': lambda: CoordAtt(32),
}
SIZES = [(2, 32, 9, 7), (2, 32, 12, 10), (2, 32, 5, 16)]  # YOLOX trains at changing sizes


@pytest.mark.parametrize('name', ['ELA-S', 'CA'])
def test_explain_finds_no_graph_break(name, randomise):
    m = randomise(MODULES[name]()).train()
    torch._dynamo.reset()
    report = torch._dynamo.explain(m)(torch.randn(*SIZES[0], requires_grad=True))
    assert report.graph_break_count == 0, report.break_reasons
    assert report.graph_count == 1


def check(name, backend, randomise):
    eager = randomise(MODULES[name]()).train()
    compiled_m = randomise(MODULES[name]()).train()
    counter = CompileCounterWithBackend(backend)
    torch._dynamo.reset()
    compiled = torch.compile(compiled_m, backend=counter, dynamic=True)
    frames = []
    for size in SIZES:
        x = torch.randn(*size)
        xe, xc = x.clone().requires_grad_(), x.clone().requires_grad_()
        ye, yc = eager(xe), compiled(xc)
        torch.testing.assert_close(yc, ye, rtol=1e-4, atol=1e-5)  # inductor's own reductions
        w = torch.randn_like(ye)
        (ye * w).sum().backward()
        (yc * w).sum().backward()
        torch.testing.assert_close(xc.grad, xe.grad, rtol=1e-4, atol=1e-5)
        frames.append(counter.frame_count)
    for (n, pe), pc in zip(eager.named_parameters(), compiled_m.parameters()):
        torch.testing.assert_close(pc.grad, pe.grad, rtol=1e-4, atol=1e-4, msg=n)
    # compiled once (inductor may restart that first compilation once, for GroupNorm's float
    # eps), never again when the size changes
    assert frames == frames[:1] * len(SIZES), f'compilations after each size: {frames}'


@pytest.mark.parametrize('name', ['ELA-T', 'ELA-S', 'ELA-B unshared'])
def test_traced_graph_equals_eager_at_changing_sizes_without_recompiling(name, randomise):
    """The convolution-free form dynamo traces (every variant's conv shape), cheaply."""
    check(name, 'aot_eager', randomise)


@pytest.mark.parametrize('name', ['ELA-B', 'CA'])
def test_inductor_equals_eager_at_changing_sizes_without_recompiling(name, randomise):
    # a cached static graph would hide a guard; patched for this test only
    with (
        torch._inductor.config.patch(fx_graph_cache=False),
        torch._functorch.config.patch(enable_autograd_cache=False),
    ):
        check(name, 'inductor', randomise)
