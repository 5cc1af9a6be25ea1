"""Shared fixtures (the toy data, the miniature trees and the wheel are made once per test run).
The tests mirror the package: test_models/, test_ops/, test_datasets/, test_utils/,
test_analysis/, test_comparison/, test_tools/ (the command-line tools end to end),
test_configs.py (every shipped config), test_packaging.py (what an install ships, lint),
test_stack.py (the OpenMMLab stack)."""

import glob
import importlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

if os.environ.get('PYTEST_XDIST_WORKER'):  # `make test` runs one worker per core: one thread each
    os.environ['OMP_NUM_THREADS'] = '1'  # and in the tools the tests start
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global random state, whatever ran before it in this
    worker (mmengine's Runner reseeds at random) and however -k/--lf selects: its random inputs
    are the ones it was written with. The state is restored afterwards."""
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    yield
    torch.random.set_rng_state(state)


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


def _run_folder(tmp_path_factory) -> 'os.PathLike':
    """A folder of this test run that every xdist worker of the run shares (the parent of the
    workers' own folders), and only this run: a wheel or data set of an earlier run is never
    picked up."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base


def source_copy(dst: str) -> str:
    """A private copy of the source tree at ``dst`` (tracked files and new files git does not
    ignore): packaging builds write build/, *.egg-info and ela_mm/.mim, and two of them in the
    same folder at once (two test workers) would corrupt each other."""
    out = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        pytest.skip('not a git checkout')
    for rel in filter(None, out.stdout.split('\0')):
        if osp.isfile(osp.join(ROOT, rel)):
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            shutil.copy2(osp.join(ROOT, rel), osp.join(dst, rel))
    return dst


@pytest.fixture(name='source_copy')
def _source_copy_fixture():
    return source_copy


@pytest.fixture(scope='session')
def toy_voc(tmp_path_factory) -> str:
    """A small toy VOC set (8 train, 4 test images, seed 0) made once per test run and shared by
    the test workers: tests never depend on a ``data/toy_voc`` a demo may have left in the
    clone (CI's fresh clone has none). Read it, never write into it."""
    from filelock import FileLock

    from ela_mm.datasets.toy_voc import generate, read_stamp

    shared = _run_folder(tmp_path_factory)
    out = shared / 'toy_voc'
    with FileLock(str(shared / 'toy_voc.lock')):
        if read_stamp(str(out)) is None:  # the stamp is written last: a finished set
            generate(str(out), num_train=8, num_test=4, seed=0)
    return str(out)


@pytest.fixture(scope='session')
def miniature(tmp_path_factory) -> dict:
    """The miniature real-layout trees (``ela_mm.datasets.miniature``, 2 images per split,
    seed 0), made once per test run and shared by the test workers: ``{tree: --data-root}``.
    Read them, never write into them."""
    from filelock import FileLock

    from ela_mm.datasets.miniature import generate_miniature

    shared = _run_folder(tmp_path_factory)
    out = shared / 'miniature'
    with FileLock(str(shared / 'miniature.lock')):
        done = out / 'done'  # written last: a finished set
        roots = generate_miniature(str(out), per_split=2) if not done.exists() else None
        if roots is not None:
            done.write_text(json.dumps(roots))
        return json.loads(done.read_text())


@pytest.fixture(scope='session')
def wheel_path(tmp_path_factory) -> str:
    """ela_mm's wheel, built once per test run as pip builds it (without the extension: its
    files are what the tests check) from a copy of the tree; the test workers share it."""
    from filelock import FileLock

    shared = _run_folder(tmp_path_factory)
    with FileLock(str(shared / 'ela_mm-wheel.lock')):
        found = glob.glob(str(shared / 'ela_mm-wheel' / '*.whl'))
        if found:
            return found[0]
        src = source_copy(str(shared / 'ela_mm-src'))
        proc = subprocess.run(
            [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation']
            + ['-w', str(shared / 'ela_mm-wheel'), src],
            env=dict(os.environ, ELA_MM_WITH_EXT='0'),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return glob.glob(str(shared / 'ela_mm-wheel' / '*.whl'))[0]
