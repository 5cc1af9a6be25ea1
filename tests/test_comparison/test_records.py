"""ela_mm.comparison.records: the published run records are what save_records writes from a
grid of the machine's absolute paths, and nothing published is replaced unasked."""

import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

from ela_mm.comparison.records import portable_records, save_records

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNS = osp.join(ROOT, 'docs', 'toy_comparison', 'runs')


def tree(folder):
    return {
        osp.relpath(osp.join(d, f), folder): open(osp.join(d, f)).read()
        for d, _, files in os.walk(folder)
        for f in files
    }


def as_on_a_machine(records, grid, repo):
    """The records as a grid folder on a machine holds them: absolute config paths, the grid's
    own path in the logs, a checkpoint and an unfinished run beside them."""
    shutil.copytree(records, grid)
    for rel, text in tree(grid).items():
        path = osp.join(grid, rel)
        if rel.endswith('run.json'):
            run = json.loads(text)
            run['config'] = osp.join(repo, run['config'])
            text = json.dumps(run)  # another formatting than the published one
        elif rel.endswith('.log'):
            text = text.replace('<grid>', grid).replace("'configs/", f"'{repo}/configs/")
        with open(path, 'w') as f:
            f.write(text)
        seed_dir = osp.dirname(path)
        if rel.endswith('run.json'):
            with open(osp.join(seed_dir, 'epoch_1.pth'), 'wb') as f:
                f.write(b'\0' * 64)
    os.makedirs(osp.join(grid, 'some_config', 'seed7', 'test'))
    for rel in list(tree(grid)):  # an earlier test run of each seed: not published
        if rel.endswith('.json') and '/test/' in rel:
            old = osp.join(grid, osp.dirname(osp.dirname(rel)), '20000101_000000')
            os.makedirs(old)
            with open(osp.join(old, '20000101_000000.json'), 'w') as f:
                f.write(f'{{"load_from": "{grid}_pretrain/x.pth"}}')


@pytest.mark.parametrize('task', ['det', 'seg', 'cls'])
def test_published_records_are_saved_records(task, tmp_path):
    published = osp.join(RUNS, task)
    grid = str(tmp_path / 'grid')
    as_on_a_machine(published, grid, '/somewhere/else/ela_mm')
    assert '<grid>' not in ''.join(tree(grid).values())
    dest = str(tmp_path / 'records')
    written, others = save_records(grid, dest)
    assert tree(dest) == tree(published)  # no checkpoint, no unfinished run, portable paths
    assert len(written) == len(tree(published)) and others == []
    assert portable_records(published) == tree(published)  # already portable: a fixed point


def test_paths_are_replaced_where_they_are_whole(tmp_path):
    grid = tmp_path / 'grid'
    test = grid / 'a_config' / 'seed0' / 'test' / '20260101_000000'
    test.mkdir(parents=True)
    (test / '20260101_000000.json').write_text('{"mIoU": 1.0}')
    (grid / 'a_config' / 'seed0' / 'run.json').write_text(
        json.dumps({'config': '/repo/ela_mm/configs/toy/a_config.py'})
    )
    (test / '20260101_000000.log').write_text(
        f"load_from = '{grid}/a_config/seed0/epoch_1.pth'\nother = '{grid}_old/x'\n"
        "cfg = '/repo/ela_mm/configs/toy/a_config.py'\nkept = '/repo/ela_mm_v2/y'\n"
    )
    rec = portable_records(str(grid))
    assert json.loads(rec['a_config/seed0/run.json'])['config'] == 'configs/toy/a_config.py'
    assert rec['a_config/seed0/test/20260101_000000/20260101_000000.log'] == (
        f"load_from = '<grid>/a_config/seed0/epoch_1.pth'\nother = '{grid}_old/x'\n"
        "cfg = 'configs/toy/a_config.py'\nkept = '/repo/ela_mm_v2/y'\n"
    )
    (grid / 'a_config' / 'seed0' / 'run.json').write_text(json.dumps({'config': '/configs/a.py'}))
    with pytest.raises(ValueError, match='lies in a repository at the file system root'):
        portable_records(str(grid))


def test_different_records_are_not_replaced_unasked(tmp_path):
    grid, dest = str(tmp_path / 'grid'), str(tmp_path / 'records')
    shutil.copytree(osp.join(RUNS, 'cls'), grid)
    shutil.copytree(osp.join(RUNS, 'cls'), dest)
    save_records(grid, dest)  # the same records: nothing to refuse
    run = next(p for p in tree(grid) if p.endswith('run.json'))
    with open(osp.join(grid, run)) as f:
        text = f.read().replace('"seed": ', '"seed":  ')
    with open(osp.join(grid, run), 'w') as f:
        f.write(text)
    changed = next(p for p in tree(grid) if p.endswith('.json') and '/test/' in p)
    with open(osp.join(grid, changed), 'w') as f:
        f.write('{"accuracy/top1": 1.0}')
    before = tree(dest)
    with pytest.raises(FileExistsError) as e:
        save_records(grid, dest)
    assert str(e.value) == (
        f'records in {dest} differ from those of {osp.abspath(grid)}: {changed}; nothing '
        'written (pass force=True, --force, to replace them)'
    )
    assert tree(dest) == before
    (tmp_path / 'records' / 'old.txt').write_text('from an earlier grid')
    _, others = save_records(grid, dest, force=True)
    assert tree(dest)[changed] == '{"accuracy/top1": 1.0}'
    assert others == ['old.txt']  # listed, never deleted


def test_a_grid_without_finished_runs_has_no_records(tmp_path):
    os.makedirs(tmp_path / 'grid' / 'some_config' / 'seed0' / 'test')
    with pytest.raises(FileNotFoundError, match='no finished runs in'):
        save_records(str(tmp_path / 'grid'), str(tmp_path / 'records'))


def test_collect_grid_saves_the_records(tmp_path):
    grid = str(tmp_path / 'grid')
    as_on_a_machine(osp.join(RUNS, 'cls'), grid, ROOT)
    dest = str(tmp_path / 'records')
    out = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'collect_grid.py'), grid, '--no-cost',
         '--save-records', dest],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert f'records: {len(tree(osp.join(RUNS, "cls")))} files under {dest}' in out.stdout
    assert tree(dest) == tree(osp.join(RUNS, 'cls'))
