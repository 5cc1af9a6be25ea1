"""ela_mm.analysis.memory.saved_bytes: what a training forward keeps for backward."""

import torch
import torch.nn as nn

from ela_mm.analysis.memory import saved_bytes


def test_each_kept_storage_counted_once():
    a = torch.randn(1000, requires_grad=True)

    def fn():
        c = a.exp()  # saves its result c: 4000 bytes
        return c[:500].sin() + c[500:].cos()  # save views of c: the same storage

    out = saved_bytes(fn)
    assert out['bytes'] == 4000 and out['storages'] == 1 and out['tensors'] == 3


def test_a_graph_dropped_before_the_end_is_not_counted():
    """A tensor saved by a graph that is gone when fn returns is freed; the storage that may take
    its address afterwards is another one."""
    a = torch.randn(2000, requires_grad=True)

    def fn():
        (a * 3).sin()  # saves a * 3 (8000 bytes), dropped at once
        return a[:1000].exp()  # saves its result: 4000 bytes, kept

    for _ in range(3):
        assert saved_bytes(fn)['bytes'] == 4000


def test_parameters_and_buffers_are_left_out():
    lin = nn.Linear(100, 10)
    x = torch.randn(4, 100, requires_grad=True)
    assert saved_bytes(lambda: lin(x), lin)['bytes'] == 4 * 100 * 4  # x only, not the weight
