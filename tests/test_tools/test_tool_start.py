"""Every tool starts one way: arguments parsed with argparse alone, so that ``-h`` answers before
torch and the OpenMMLab libraries are imported, and no tool edits ``sys.path`` (the package is
installed; tools ship under ela_mm/.mim/tools and import it)."""

import glob
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True)
    if osp.basename(p) != 'cli_args.py'
)
HEAVY = ('torch', 'mmengine', 'mmcv', 'mmdet', 'mmseg', 'mmpretrain', 'ela_mm')


def test_every_tool_is_listed():
    assert len(TOOLS) == 15 and 'tools/train.py' in TOOLS and 'tools/misc/metafile.py' in TOOLS


@pytest.mark.parametrize('tool', TOOLS)
def test_help_answers_before_the_heavy_imports(tool):
    out = subprocess.run(  # as a user runs it; -X importtime lists every module imported
        [sys.executable, '-X', 'importtime', tool, '-h'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'usage:' in out.stdout, out.stdout
    imported = {
        line.rsplit('|', 1)[-1].strip().split('.')[0]
        for line in out.stderr.splitlines()
        if line.startswith('import time:')
    }
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize('tool', TOOLS)
def test_no_tool_edits_sys_path(tool):
    with open(osp.join(ROOT, tool)) as f:
        text = f.read()
    assert 'sys.path' not in text and '# noqa: E402' not in text


def test_the_miniature_command_runs_from_the_package_too():
    """``python -m ela_mm.datasets.miniature`` (the docs show it for an installed package) runs
    tools/misc/make_miniature.py as shipped under ela_mm/.mim/tools."""
    out = subprocess.run(
        [sys.executable, '-m', 'ela_mm.datasets.miniature', '-h'],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'usage: make_miniature.py' in out.stdout and '--per-split' in out.stdout
