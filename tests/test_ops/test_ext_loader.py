"""The extension loads loudly: a present but broken build warns once and names the rebuild
command; no build (or ELA_MM_WITH_EXT=0) stays quiet."""

import importlib.machinery
import os
import subprocess
import sys
import warnings

import pytest

from ela_mm.ops import kernels_in_use, load_ext


def test_broken_extension_warns_with_the_rebuild_command(tmp_path, monkeypatch):
    pkg = tmp_path / 'brokenpkg'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    so = '_ext' + importlib.machinery.EXTENSION_SUFFIXES[0]
    (pkg / so).write_bytes(b'not an ELF file')  # a damaged build
    # what an ABI mismatch after a torch upgrade raises
    (pkg / '_py_ext.py').write_text("raise ImportError('undefined symbol: _ZN3c10')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name, filename, error in (
        ('brokenpkg._ext', so, 'failed to load ('),
        ('brokenpkg._py_ext', '_py_ext.py', 'undefined symbol'),
    ):
        with pytest.warns(RuntimeWarning) as record:
            assert load_ext(name) is None
        assert len(record) == 1
        msg = str(record[0].message)
        assert 'failed to load' in msg and error in msg and filename in msg
        assert 'make ext' in msg and 'pip install --no-build-isolation' in msg


def test_missing_extension_is_quiet(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert load_ext('ela_mm._no_such_ext') is None
        assert load_ext('no_such_package._ext') is None
        monkeypatch.setenv('ELA_MM_WITH_EXT', '0')
        assert load_ext('ela_mm._ext') is None


def test_loaded_extension_is_named():
    line = kernels_in_use()
    assert line.startswith('ela_mm kernels: compiled CPU extension ') and '_ext' in line
    code = (
        'import warnings\n'
        'with warnings.catch_warnings(record=True) as w:\n'
        '    warnings.simplefilter("always")\n'
        '    import ela_mm.ops as o\n'
        'print(o.kernels_in_use())\n'
        'print(sum("ela_mm" in str(x.message) for x in w), "warnings")\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        env=dict(os.environ, ELA_MM_WITH_EXT='0'),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == [
        'ela_mm kernels: pure PyTorch (no compiled extension loaded)',
        '0 warnings',
    ]
