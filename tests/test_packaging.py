"""What an install ships and the habits the tree keeps: every package folder is a package, a
built wheel holds every module and the C++ sources, the pinned versions have one source, and the
Python tree is lint-clean."""

import glob
import os
import os.path as osp
import re
import subprocess
import sys
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tracked(pattern):
    out = subprocess.run(['git', 'ls-files', pattern], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip('not a git checkout')
    return out.stdout.split()


def test_every_package_folder_is_a_package():
    folders = {osp.dirname(p) for p in _tracked('ela_mm/*.py')}
    missing = sorted(f for f in folders if not osp.isfile(osp.join(ROOT, f, '__init__.py')))
    assert missing == [], f'folders without __init__.py (not installed by pip): {missing}'


@pytest.fixture(scope='module')
def wheel(wheel_path):
    """The names in the wheel (tests/conftest.py builds it once per run)."""
    return zipfile.ZipFile(wheel_path).namelist()


def test_wheel_holds_every_module_and_the_cpp_sources(wheel):
    wanted = [p for p in _tracked('ela_mm') if p.endswith(('.py', '.cpp', '.h'))]
    missing = sorted(set(wanted) - set(wheel))
    assert missing == [], f'not in the wheel: {missing}'
    assert 'ela_mm/datasets/toy_voc.py' in wheel and 'ela_mm/ops/csrc/pybind.cpp' in wheel


def test_wheel_ships_configs_tools_and_model_index_in_mim(wheel):
    """The layout OpenMMLab packages use: <pkg>/.mim/{configs,tools,model-index.yml}."""
    configs = [p for p in _tracked('configs') if p.endswith(('.py', '.yml'))]
    tools = [p for p in _tracked('tools') if p.endswith(('.py', '.sh'))]
    missing = sorted(
        {f'ela_mm/.mim/{p}' for p in configs + tools + ['model-index.yml']} - set(wheel)
    )
    assert missing == [], f'not in the wheel: {missing}'


def test_pins_have_one_source():
    """requirements/stack.txt is followed by setup.py's `stack` extra and the table of
    docs/get_started.md."""
    pins = {}
    with open(osp.join(ROOT, 'requirements', 'stack.txt')) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line:
                name, _, version = re.match(r'([A-Za-z0-9_.-]+)(={2,3}|>=|)(.*)', line).groups()
                pins[name] = version
    page = open(osp.join(ROOT, 'docs', 'get_started.md')).read()
    table = page[page.index('| package | version |') :]
    table = table[: table.index('\n\n')]
    for name in (
        'torch',
        'torchvision',
        'mmengine',
        'mmcv',
        'mmdet',
        'mmsegmentation',
        'mmpretrain',
    ):
        assert pins[name], name
        row = next(r for r in table.splitlines() if name in r.split('|')[1])
        assert pins[name] in row, (
            f'docs/get_started.md lists {row!r}, requirements/stack.txt {pins[name]}'
        )
    setup = open(osp.join(ROOT, 'setup.py')).read()
    assert "requirements('stack')" in setup
    script = open(osp.join(ROOT, 'tools', 'setup_env.sh')).read()
    assert 'requirements/stack.txt' in script and '2.1.0' not in script


def test_lint_clean():
    """`make lint`: ruff check and ruff format --check over the Python tree."""
    paths = ['ela_mm', 'tools', 'tests', 'configs', 'setup.py']
    for args in (['check'], ['format', '--check']):
        out = subprocess.run(
            [sys.executable, '-m', 'ruff', *args, *paths], cwd=ROOT, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_sdist_ships_the_same(tmp_path, source_copy):
    env = dict(os.environ, ELA_MM_WITH_EXT='0')
    src = source_copy(str(tmp_path / 'src'))
    out = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'sdist', '-d', str(tmp_path / 'dist')],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import tarfile

    (path,) = glob.glob(str(tmp_path / 'dist' / '*.tar.gz'))
    names = {n.split('/', 1)[1] for n in tarfile.open(path).getnames() if '/' in n}
    for want in (
        'ela_mm/datasets/toy_voc.py',
        'ela_mm/ops/csrc/pybind.cpp',
        'ela_mm/ops/csrc/common.h',
        'ela_mm/.mim/model-index.yml',
        'ela_mm/.mim/configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py',
        'ela_mm/.mim/tools/train.py',
        'requirements/stack.txt',
        'LICENSE',
    ):
        assert want in names, want


def test_isolated_build_stops_and_names_the_flag(tmp_path, source_copy):
    """Without --no-build-isolation pip builds where our torch is not: the build must stop with
    a message naming the flag, not produce an extension for another torch."""
    src = source_copy(str(tmp_path / 'src'))
    out = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-w', str(tmp_path), src],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode != 0
    assert '--no-build-isolation' in out.stdout + out.stderr
    assert not glob.glob(str(tmp_path / '*.whl'))
