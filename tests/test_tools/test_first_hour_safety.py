"""A new user's first hour, round two: nothing the user has is overwritten without being asked,
a run is what it says, and every mistake is reported before anything is built (issue #22)."""

import json
import os
import os.path as osp
import runpy
import sys

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py')
PLAIN = 'yolox_nano_1xb16-24e_toyvoc'


def tool_main(name, argv, monkeypatch):
    """Run a tool's main() in this process (no subprocess start-up)."""
    monkeypatch.syspath_prepend(TOOLS)
    monkeypatch.setattr(sys, 'argv', [name, *argv])
    return runpy.run_path(osp.join(TOOLS, name))['main']()


# ------------------------------------------------------------------ collect_grid
def fake_grid(grid, name, values, manifest):
    """Finished runs as tools/run_grid.py leaves them, with the current config's hash."""
    from ela_mm.utils.model_index import expected_hash

    path = osp.join(ROOT, 'configs', 'toy', f'{name}.py')
    digest = expected_hash(dict(path=path), manifest.get('schedule'))
    for seed, v in values.items():
        d = osp.join(grid, name, f'seed{seed}', 'test', '20260101_000000')
        os.makedirs(d)
        with open(osp.join(d, '20260101_000000.json'), 'w') as f:
            json.dump({'pascal_voc/mAP': v}, f)
        with open(osp.join(grid, name, f'seed{seed}', 'run.json'), 'w') as f:
            json.dump(dict(config_hash=digest, seed=seed), f)
    with open(osp.join(grid, 'grid.json'), 'w') as f:
        json.dump(manifest, f)


def fake_root(tmp_path, training):
    """A project root whose toy metafile publishes the plain model as measured with
    ``training``."""
    root = tmp_path / 'root'
    (root / 'configs' / 'toy').mkdir(parents=True)
    (root / 'docs').mkdir()
    (root / 'docs' / 'toy_comparison.md').write_text('the published page\n')
    entry = dict(
        Name=PLAIN,
        Config=f'configs/toy/{PLAIN}.py',
        Metadata=dict(Attention='none', Status='measured'),
        Results=[dict(Task='Object Detection', Metrics={'mAP': 0.1839}, Training=training)],
    )
    meta = root / 'configs' / 'toy' / 'metafile.yml'
    meta.write_text('# header\n' + yaml.safe_dump(dict(Models=[entry]), sort_keys=False))
    (root / 'model-index.yml').write_text('Import:\n- configs/toy/metafile.yml\n')
    os.symlink(osp.join(ROOT, entry['Config']), root / entry['Config'])
    os.symlink(osp.join(ROOT, 'configs', 'yolox'), root / 'configs' / 'yolox')  # its base
    return root, meta


PUBLISHED = {'Schedule': 'as in the config', 'Seeds': [0, 1, 2]}


@pytest.mark.parametrize(
    'manifest,seeds,expect',
    [
        (dict(schedule='2e'), [0, 1], ["schedule 'as in the config' -> '2e'", 'fewer']),
        (dict(data_root='/my/data'), [0, 1, 2], ['data root'] * 2),
        (dict(cfg_options=['model.x=1']), [0, 1, 2], ['--cfg-options none -> ']),
    ],
)
def test_collector_does_not_replace_results_measured_differently(
    tmp_path, monkeypatch, manifest, seeds, expect
):
    root, meta = fake_root(tmp_path, PUBLISHED)
    before = meta.read_text()
    grid = str(tmp_path / 'g')
    fake_grid(grid, PLAIN, {s: 0.0 for s in seeds}, manifest)
    cg = runpy.run_path(osp.join(TOOLS, 'collect_grid.py'))
    rows = [dict(name=PLAIN, entry=dict(family='toy'), values={s: 0.0 for s in seeds})]
    replaced = cg['replaced_results'](rows, manifest, str(root))
    assert len(replaced) == 1 and replaced[0].startswith(f'{PLAIN} (published mAP 0.1839')
    for text in expect:
        assert text in replaced[0]
    same = dict(schedule=None, data_root=None, cfg_options=[])
    assert cg['replaced_results']([dict(rows[0], values={0: 0, 1: 0, 2: 0})], same, str(root)) == []
    # through the tool: refused, nothing written
    argv = [grid, '--no-cost', '--update-metafiles', '--root', str(root), '--machine', 'M']
    with pytest.raises(SystemExit, match='would replace published results') as e:
        tool_main('collect_grid.py', argv, monkeypatch)
    assert '--force' in str(e.value) and PLAIN in str(e.value)
    assert meta.read_text() == before and not osp.exists(osp.join(grid, 'comparison.md'))


def test_collector_never_overwrites_docs_by_default(tmp_path, monkeypatch):
    root, _ = fake_root(tmp_path, PUBLISHED)
    grid = str(tmp_path / 'g')
    fake_grid(grid, PLAIN, {0: 0.5}, {})
    docs = str(root / 'docs')
    argv = [grid, '--no-cost', '--root', str(root), '--out', docs, '--name', 'toy_comparison']
    with pytest.raises(SystemExit, match='would overwrite shipped files'):
        tool_main('collect_grid.py', argv, monkeypatch)
    assert (root / 'docs' / 'toy_comparison.md').read_text() == 'the published page\n'
    tool_main('collect_grid.py', argv + ['--force'], monkeypatch)  # asked for: written
    assert 'the published page' not in (root / 'docs' / 'toy_comparison.md').read_text()


def test_readme_collect_example_writes_under_work_dirs():
    text = open(osp.join(ROOT, 'README.md')).read()
    lines = [ln for ln in text.splitlines() if ln.startswith('python tools/collect_grid.py')]
    assert lines and all('docs/' not in ln and 'configs/' not in ln for ln in lines), lines
