"""Shared fixtures. The tests mirror the package: test_models/, test_ops/, test_datasets/,
test_utils/, test_tools/ (the command-line tools end to end), test_configs.py (every shipped
config), test_packaging.py (what an install ships, lint), test_stack.py (the OpenMMLab stack)."""

import importlib
import os
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

if os.environ.get('PYTEST_XDIST_WORKER'):  # `make test` runs one worker per core: one thread each
    os.environ['OMP_NUM_THREADS'] = '1'  # and in the tools the tests start
    torch.set_num_threads(1)


def _randomise(module: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Fill every parameter with N(0, 0.5^2) values (default inits hide bugs: zero biases,
    unit GroupNorm weights), deterministically."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return module


@pytest.fixture
def randomise():
    return _randomise


@pytest.fixture(scope='session')
def root() -> str:
    return ROOT


class _ExtSpy:
    """Stands in for the compiled extension and counts the calls of each kernel."""

    def __init__(self, ext):
        self._ext = ext
        self.calls = {}

    def __getattr__(self, name):
        fn = getattr(self._ext, name)

        def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return fn(*args, **kwargs)

        return counted


@pytest.fixture
def ext_calls(monkeypatch):
    """``{kernel name: calls}`` of ela_mm's C++ kernels while the test runs."""
    ext = importlib.import_module('ela_mm.ops.ext_loader').ext
    assert ext is not None, 'ela_mm._ext missing: run `make ext` (or make setup)'
    spy = _ExtSpy(ext)
    for op in ('strip_attention', 'dwconv_gn_sigmoid'):  # the modules that call the kernels
        monkeypatch.setattr(importlib.import_module(f'ela_mm.ops.{op}'), 'ext', spy)
    return spy.calls
