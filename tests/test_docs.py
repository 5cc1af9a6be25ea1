"""The README and the docs/ tree against the code: every Python snippet runs, every shell
command's tool, make target and flags exist, every relative link and anchor resolves, every
config named exists, and docs/model_zoo.md is what tools/misc/metafile.py --zoo writes.

Cheap by design (no model is built): each tool's ``-h`` is run once."""

import glob
import os.path as osp
import re
import subprocess
import sys
from functools import lru_cache

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: the pages checked: the README and every page under docs/ (toy_comparison.md included)
PAGES = ['README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)
)
#: a launcher script -> the tool whose options it passes on
LAUNCHERS = {
    'tools/dist_train.sh': 'tools/train.py',
    'tools/dist_test.sh': 'tools/test.py',
    'tools/slurm_train.sh': 'tools/train.py',
    'tools/slurm_test.sh': 'tools/test.py',
}
SKIP = '<!-- docs-test: skip'


def read(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        return f.read()


def blocks(text, langs):
    """(language, code, skipped) of every fenced block whose language is in ``langs``."""
    out = []
    for m in re.finditer(r'(?m)^```(\w*)\n(.*?)^```', text, flags=re.S):
        if m.group(1) in langs:
            before = text[: m.start()].rstrip().splitlines()[-1:] or ['']
            out.append((m.group(1), m.group(2), before[0].startswith(SKIP)))
    return out


def shell_commands(text):
    """The command lines of the shell blocks (continuations joined, comments dropped) and the
    inline code spans that start with python or bash."""
    cmds = []
    for _, code, skipped in blocks(text, ('bash', 'sh', '')):
        if skipped:
            continue
        code = re.sub(r'\\\n\s*', ' ', code)
        for line in code.splitlines():
            line = line.split(' # ')[0].split('  #')[0].strip()
            if line and not line.startswith('#'):
                cmds.append(line)
    prose = re.sub(r'(?ms)^```.*?^```', '', text)
    cmds += re.findall(r'`((?:python|bash|make) [^`]+)`', re.sub(r'\s*\n\s*', ' ', prose))
    return cmds


@lru_cache(maxsize=None)
def help_text(tool):
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, tool), '-h'], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, (tool, out.stderr[-2000:])
    return out.stdout


def make_targets():
    text = read('Makefile')
    return set(re.search(r'\.PHONY:(.*)', text).group(1).split())


def check_command(cmd):
    """Problems with one command line: a tool, script or make target that does not exist, or a
    flag its tool does not take."""
    problems = []
    for seg in re.split(r'&&|;|\|', cmd):
        words = [w for w in seg.split() if not re.match(r'^[A-Z_]+=', w)]  # env assignments
        if not words:
            continue
        head = words[0]
        if head == 'make':
            problems += [f'make {t}' for t in words[1:2] if t not in make_targets()]
            continue
        if head in ('python', '.venv/bin/python', '$PY', 'bash'):
            words = words[1:]
        else:
            continue
        if not words or words[0].startswith(('-', '$')):  # python -m / -c, $TOOLS/...
            continue
        script = words[0]
        if not script.startswith('tools/'):
            continue
        if not osp.isfile(osp.join(ROOT, script)):
            problems.append(f'no such tool: {script}')
            continue
        tool = LAUNCHERS.get(script, script)
        if not tool.endswith('.py'):
            continue
        helps = help_text(tool)
        for w in words[1:]:
            flag = re.match(r'^\[?(--[A-Za-z][\w-]*)', w)
            if flag and not re.search(rf'(?<![\w-]){re.escape(flag.group(1))}(?![\w-])', helps):
                problems.append(f'{tool} takes no {flag.group(1)}')
    return problems


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    h = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return h.replace(' ', '-')


def anchors(page):
    text = re.sub(r'(?ms)^```.*?^```', '', read(page))
    return {slug(m) for m in re.findall(r'(?m)^#+ (.*)$', text)}


@pytest.mark.parametrize('page', PAGES)
def test_python_snippets_run(page):
    for _, code, skipped in blocks(read(page), ('python',)):
        if not skipped:
            exec(compile(code, page, 'exec'), {})


@pytest.mark.parametrize('page', PAGES)
def test_commands_and_flags_exist(page):
    problems = [(c, p) for c in shell_commands(read(page)) for p in check_command(c)]
    assert problems == []


@pytest.mark.parametrize('page', PAGES)
def test_links_resolve(page):
    text = re.sub(r'(?ms)^```.*?^```', '', read(page))
    bad = []
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'^[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(osp.join(ROOT, osp.dirname(page), path)) if path else None
        if full and not osp.exists(full):
            bad.append(target)
        elif anchor and (full is None or full.endswith('.md')):
            doc = osp.relpath(full, ROOT) if full else page
            if anchor not in anchors(doc):
                bad.append(target)
    assert bad == []


@pytest.mark.parametrize('page', PAGES)
def test_configs_named_exist(page):
    # measured records of earlier recipes (docs/toy_comparison/<task>_<which>_recipe.md) name
    # their configs as they were then
    if page.endswith('_recipe.md'):
        return
    text = read(page).split('\n## Earlier recipes')[0]
    shipped = {osp.splitext(osp.basename(p))[0] for p in glob.glob(f'{ROOT}/configs/*/*.py')}
    paths = set(re.findall(r'configs/[\w/.-]+?\.py', text)) - {
        'configs/toy/resnet18*_toycls-64x64.py'
    }
    missing = [p for p in paths if '*' not in p and not osp.isfile(osp.join(ROOT, p))]
    names = set(re.findall(r'(?<![\w/.-])([a-z][\w.-]*_\d+xb\d+[\w.-]*?)(?:\.py)?(?![\w.-])', text))
    missing += sorted(n for n in names if n not in shipped)
    assert missing == []


def test_model_zoo_is_generated_from_the_metafiles():
    from ela_mm.comparison import catalogue as tool

    assert read('docs/model_zoo.md') == tool.zoo_page(ROOT), (
        'docs/model_zoo.md differs from the metafiles: python tools/misc/metafile.py --zoo'
    )
    page = read('docs/model_zoo.md')
    for entry in tool.load_model_index(ROOT):  # every model, with its status
        row = next(ln for ln in page.splitlines() if f'[{entry["Name"]}]' in ln)
        status = tool.result_status(entry)
        if status.startswith('stale'):
            assert 'STALE' in row, row
        elif status == 'not measured':
            assert 'not yet trained' in row, row


def test_readme_is_the_front_door():
    text = read('README.md')
    assert len(text.splitlines()) <= 150
    quick = text[text.index('## Quick start') : text.index('\n## ', text.index('## Quick start'))]
    assert 'source .venv/bin/activate' in quick and '.venv/bin/python' in quick
    for demo in ('det', 'seg', 'cls'):
        assert f'Expected: <!-- demo-{demo}-score -->' in quick or re.search(
            rf'demo-{demo}-score', quick
        )
    assert 'docs/toy_comparison.md' in quick
    assert 'smoke run' in read('docs/user_guides/train_test.md').lower()


def test_collect_examples_write_under_work_dirs():
    """The collect_grid examples a reader copies write under work_dirs/, never over docs/ or
    configs/ (the published toy comparison's own page states its publishing commands)."""
    lines = [
        ln
        for page in PAGES
        if page != 'docs/toy_comparison.md'
        for ln in read(page).splitlines()
        if ln.startswith('python tools/collect_grid.py')
    ]
    assert lines and all('docs/' not in ln and 'configs/' not in ln for ln in lines), lines
