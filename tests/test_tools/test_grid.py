"""tools/run_grid.py and tools/collect_grid.py: the commands each mode would run, the collector on
fabricated run folders with known metrics, failures reported, and a real two-run mini grid."""

import csv
import json
import math
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = 'yolox_nano_1xb16-24e_toyvoc'  # the plain baseline that names the toy detection family
ELA_T = 'yolox_nano-ela-t_1xb16-24e_toyvoc'
SE = 'yolox_nano-se_1xb16-24e_toyvoc'
ENV = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
PY = sys.executable


def tool(name, *args, cwd=ROOT, check=True):
    out = subprocess.run(
        [PY, osp.join(ROOT, 'tools', name), *args], cwd=cwd, env=ENV, capture_output=True, text=True
    )
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def cfg(name):
    return osp.join(ROOT, 'configs', 'toy', f'{name}.py')


def fake_run(grid, name, seed, metrics, config_hash=None):
    """A run folder as tools/train.py and tools/test.py leave it: run.json (what was trained,
    when ``config_hash`` is given) and test/<timestamp>/<timestamp>.json."""
    d = osp.join(grid, name, f'seed{seed}', 'test', '20260101_000000')
    os.makedirs(d)
    with open(osp.join(d, '20260101_000000.json'), 'w') as f:
        json.dump(metrics, f)
    if config_hash is not None:
        with open(osp.join(grid, name, f'seed{seed}', 'run.json'), 'w') as f:
            json.dump(dict(config_hash=config_hash, seed=seed), f)


def current_hash(name):
    from ela_mm.comparison.catalogue import expected_hash, load_model_index

    return expected_hash(next(m for m in load_model_index(ROOT) if m['Name'] == name))


# ---- run_grid: what every mode would run


def test_dry_run_local_lists_train_then_test_per_config_and_seed(tmp_path):
    grid = str(tmp_path / 'g')
    out = tool(
        'run_grid.py',
        TOY,
        '--attentions',
        'plain',
        'ela-t',
        '--seeds',
        '2',
        '--schedule',
        '6e',
        '--grid-dir',
        grid,
        '--dry-run',
        '--python',
        'PY',
    ).stdout
    lines = [ln for ln in out.splitlines() if not ln.startswith('[grid]')]
    tools = osp.join(ROOT, 'tools')
    expected = []
    for name in (TOY, ELA_T):
        for seed in (0, 1):
            w = osp.join(grid, name, f'seed{seed}')
            expected.append(
                f'PY {tools}/train.py {cfg(name)} --work-dir {w} --resume --schedule 6e '
                f'--cfg-options randomness.seed={seed} && '
                f'PY {tools}/test.py {cfg(name)} "$(cat {w}/last_checkpoint)" --work-dir {w}/test'
            )
    assert lines == expected
    assert '4 runs (2 configs x 2 seeds), 0 finished, 4 to run' in out
    assert not osp.exists(grid)  # a dry run writes nothing


def test_dry_run_dist_uses_the_launcher_scripts(tmp_path):
    grid = str(tmp_path / 'g')
    out = tool(
        'run_grid.py',
        TOY,
        '--attentions',
        'SE',
        '--seeds',
        '1',
        '--mode',
        'dist',
        '--gpus',
        '4',
        '--grid-dir',
        grid,
        '--dry-run',
        '--python',
        'PY',
        '--cfg-options',
        'a.b=1',
    ).stdout
    w = osp.join(grid, SE, 'seed0')
    tools = osp.join(ROOT, 'tools')
    assert out.splitlines()[-1] == (
        f'PYTHON=PY bash {tools}/dist_train.sh {cfg(SE)} 4 --work-dir {w} --resume '
        f'--cfg-options randomness.seed=0 a.b=1 && '
        f'PYTHON=PY bash {tools}/dist_test.sh {cfg(SE)} "$(cat {w}/last_checkpoint)" 4 '
        f'--work-dir {w}/test --cfg-options a.b=1'
    )


def test_dry_run_slurm_prints_the_array_script(tmp_path):
    grid = str(tmp_path / 'g')
    out = tool(
        'run_grid.py',
        TOY,
        '--attentions',
        'plain',
        'CA',
        '--seeds',
        '2',
        '--mode',
        'slurm',
        '--partition',
        'gpu',
        '--gpus',
        '16',
        '--gpus-per-node',
        '8',
        '--max-parallel',
        '2',
        '--grid-dir',
        grid,
        '--dry-run',
        '--python',
        'PY',
    ).stdout
    tools = osp.join(ROOT, 'tools')
    w = osp.join(grid, f'{TOY.replace("nano", "nano-ca")}', 'seed1')
    line = (
        f'PYTHON=PY bash {tools}/slurm_train.sh gpu ela-grid-yolox_nano-ca_1xb16-24e_toyvoc-seed1 '
        f'{cfg("yolox_nano-ca_1xb16-24e_toyvoc")} {w} --resume --cfg-options randomness.seed=1 && '
        f'PYTHON=PY bash {tools}/slurm_test.sh gpu ela-grid-yolox_nano-ca_1xb16-24e_toyvoc-seed1 '
        f'{cfg("yolox_nano-ca_1xb16-24e_toyvoc")} "$(cat {w}/last_checkpoint)" --work-dir {w}/test'
    )
    assert line in out.splitlines()
    for header in (
        '#SBATCH --partition=gpu',
        '#SBATCH --array=0-3%2',  # four runs, two at a time
        '#SBATCH --nodes=2',
        '#SBATCH --ntasks=16',
        '#SBATCH --ntasks-per-node=8',
        '#SBATCH --gres=gpu:8',
        f'    3) {line} ;;',
        f'# {grid}/grid.sbatch (not written: --dry-run); submit with: sbatch {grid}/grid.sbatch',
    ):
        assert header in out.splitlines(), header
    assert not osp.exists(grid)


def test_finished_runs_are_skipped_and_interrupted_ones_resume(tmp_path):
    grid = str(tmp_path / 'g')
    fake_run(grid, TOY, 0, {'pascal_voc/mAP': 0.5})
    os.makedirs(osp.join(grid, ELA_T, 'seed0'))
    with open(osp.join(grid, ELA_T, 'seed0', 'last_checkpoint'), 'w') as f:
        f.write('x.pth')
    out = tool(
        'run_grid.py',
        TOY,
        '--attentions',
        'plain',
        'ELA-T',
        'SE',
        '--seeds',
        '1',
        '--grid-dir',
        grid,
        '--dry-run',
    ).stdout
    assert f'[grid] finished {TOY} seed 0' in out
    assert f'[grid] resume   {ELA_T} seed 0' in out
    assert f'[grid] new      {SE} seed 0' in out
    assert '3 runs (3 configs x 1 seeds), 1 finished, 2 to run' in out
    commands = [ln for ln in out.splitlines() if not ln.startswith('[grid]')]
    assert len(commands) == 2 and TOY + '.py' not in ' '.join(commands)


def test_grid_json_accumulates_and_refuses_another_schedule(tmp_path):
    """A second invocation on the same grid folder adds its configs and seeds to grid.json; one
    with another schedule is refused (its runs would be tabulated with the others)."""
    grid = str(tmp_path / 'g')
    for name, seed in ((TOY, 0), (ELA_T, 0), (ELA_T, 1)):
        fake_run(grid, name, seed, {'pascal_voc/mAP': 0.5})  # finished: nothing is trained
    tool('run_grid.py', TOY, '--attentions', 'plain', '--seeds', '1', '--grid-dir', grid)
    tool('run_grid.py', TOY, '--attentions', 'ELA-T', '--seeds', '2', '--grid-dir', grid)
    with open(osp.join(grid, 'grid.json')) as f:
        manifest = json.load(f)
    assert manifest['configs'] == [TOY, ELA_T] and manifest['seeds'] == [0, 1]
    assert manifest['attentions'] == {TOY: 'none', ELA_T: 'ELA-T'}
    out = tool('run_grid.py', TOY, '--schedule', '6e', '--grid-dir', grid, '--dry-run', check=False)
    assert out.returncode != 0
    assert (
        f"{grid}/grid.json records schedule=None but this call asks schedule='6e': runs that "
        'differ in schedule would be tabulated as one grid. Use another --grid-dir, or repeat '
        'the earlier schedule.'
    ) in out.stderr
    with open(osp.join(grid, 'grid.json')) as f:
        assert json.load(f) == manifest  # untouched


def test_threads_per_run_reach_the_machine_line(tmp_path):
    from ela_mm.analysis.report import machine
    from ela_mm.comparison.grid import merge_manifest, threads_text

    a = dict(baseline='b', configs=['x'], attentions={'x': 'none'}, seeds=[0], threads_per_run=[1])
    b = dict(a, configs=['y'], attentions={'y': 'SE'}, seeds=[2], threads_per_run=[2])
    m = merge_manifest(a, b, 'g')
    assert m['configs'] == ['x', 'y'] and m['seeds'] == [0, 2] and m['threads_per_run'] == [1, 2]
    assert threads_text(a) == '1 torch thread per run'
    assert threads_text(m) == '1 or 2 torch threads per run'
    assert threads_text(dict(a, threads_per_run=[])) is None
    assert machine('cpu', threads_text(a)).endswith(' cores, 1 torch thread per run')
    grid = str(tmp_path / 'g')  # the collector names them (run_grid --parallel 2 on 2 cores)
    fake_run(grid, TOY, 0, {'pascal_voc/mAP': 0.5})
    with open(osp.join(grid, 'grid.json'), 'w') as f:
        json.dump(dict(a, schedule=None), f)
    tool('collect_grid.py', grid, '--no-cost')
    assert ' cores, 1 torch thread per run, 20' in open(osp.join(grid, 'comparison.md')).read()


def test_unknown_family_or_attention_is_named():
    out = tool('run_grid.py', 'yolox_nano_nope', '--dry-run', check=False)
    assert out.returncode != 0 and 'no plain config' in out.stderr and TOY in out.stderr
    out = tool('run_grid.py', TOY, '--attentions', 'ELA-L', '--dry-run', check=False)
    assert 'attention ELA-L not in the family of ' + TOY in out.stderr
    assert 'ELA-T' in out.stderr and 'CBAM' in out.stderr
    assert 'it has plain, ' in out.stderr and 'none' not in out.stderr  # the metafiles' word


def test_failed_runs_are_reported_with_their_reason_and_log_and_do_not_stop_the_others(
    tmp_path, toy_voc
):
    grid = str(tmp_path / 'g')
    for name in (SE, ELA_T):  # both resume from a checkpoint that is not one
        w = osp.join(grid, name, 'seed0')
        os.makedirs(w)
        with open(osp.join(w, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(w, 'missing.pth'))
    data = toy_voc  # real data: the runs fail on the checkpoint, nothing earlier
    out = tool(
        'run_grid.py',
        TOY,
        '--attentions',
        'SE',
        'ELA-T',
        '--seeds',
        '1',
        '--grid-dir',
        grid,
        '--data-root',
        data,
        check=False,
    )
    assert out.returncode == 1
    for name in (SE, ELA_T):  # the second ran although the first failed
        log = osp.join(grid, name, 'seed0', 'run.log')
        why = re.escape(f"--resume '{osp.join(grid, name, 'seed0', 'last_checkpoint')}'")
        failed = rf'\[grid\] FAILED  {name} seed 0 \(exit 1\): {why}.*missing\.pth'
        assert re.search(rf'{failed}.*; see {re.escape(log)}', out.stdout), out.stdout
        assert re.search(rf'  {name} seed 0: exit 1: {why}.* \(log {re.escape(log)}\)', out.stdout)
        assert 'missing.pth' in open(log).read()
    assert '2 of 2 runs failed' in out.stdout


# ---- collect_grid: known metrics in, exact statistics out

PLAIN_V = {0: 0.60, 1: 0.70, 2: 0.80}
ELA_V = {0: 0.62, 1: 0.73, 2: 0.81}  # differences 0.02, 0.03, 0.01
SE_V = {0: 0.61, 2: 0.79}  # seed 1 unfinished; differences 0.01, -0.01


@pytest.fixture(scope='module')
def fabricated(tmp_path_factory):
    grid = str(tmp_path_factory.mktemp('grid'))
    for name, values in ((TOY, PLAIN_V), (ELA_T, ELA_V), (SE, SE_V)):
        for seed, v in values.items():
            fake_run(grid, name, seed, {'pascal_voc/mAP': v, 'pascal_voc/AP50': 0.0})
    os.makedirs(osp.join(grid, SE, 'seed1'))  # started, never tested
    out = tool('collect_grid.py', grid, '--machine', 'test machine')
    return grid, out.stdout


def test_collector_statistics_are_exact(fabricated):
    grid, _ = fabricated
    with open(osp.join(grid, 'comparison.csv')) as f:
        rows = {r['attention']: r for r in csv.DictReader(f)}
    assert list(rows) == ['plain', 'ELA-T', 'SE']  # plain first, then the catalogue's ROW_ORDER
    t2 = 4.302652729749464  # Student t, 0.975, 2 degrees of freedom
    expect = {
        'plain': (0.70, 0.10, 3, None),
        'ELA-T': (0.72, math.sqrt(((0.62 - 0.72) ** 2 + 0.01**2 + 0.09**2) / 2), 3, (0.02, 0.01)),
        'SE': (0.70, math.sqrt(2 * 0.09**2), 2, (0.0, math.sqrt(2 * 0.01**2))),
    }
    for att, (mean, std, n, diff) in expect.items():
        r = rows[att]
        assert float(r['mean']) == pytest.approx(mean, abs=1e-12)
        assert float(r['std']) == pytest.approx(std, abs=1e-12)
        assert int(r['n']) == n
        if diff is None:
            assert r['diff_mean'] == ''
            continue
        dm, ds = diff
        t = t2 if n == 3 else 12.706204736174698  # t(0.975, 1)
        half = t * ds / math.sqrt(n)
        assert float(r['diff_mean']) == pytest.approx(dm, abs=1e-12)
        assert float(r['diff_ci_low']) == pytest.approx(dm - half, abs=1e-12)
        assert float(r['diff_ci_high']) == pytest.approx(dm + half, abs=1e-12)
        assert int(r['diff_n']) == n
    assert rows['SE']['seeds'] == '0 2'


def test_collector_table_cost_figure_and_unfinished(fabricated):
    grid, out = fabricated
    md = open(osp.join(grid, 'comparison.md')).read()
    assert '+0.0200 [-0.0048, +0.0448] (n=3)' in md  # 0.02 +- 4.3027 * 0.01 / sqrt(3)
    assert 'test machine' in md
    assert f'Unfinished runs (no test metrics): {osp.join(grid, SE, "seed1")}' in md
    with open(osp.join(ROOT, 'configs', 'toy', 'metafile.yml')) as f:
        params = {m['Name']: m['Metadata']['Parameters'] for m in yaml.safe_load(f)['Models']}
    with open(osp.join(grid, 'comparison.csv')) as f:
        rows = {r['config']: r for r in csv.DictReader(f)}
    for name in (TOY, ELA_T, SE):  # built here, as the metafile tool counted them
        assert int(rows[name]['params']) == params[name]
        assert int(rows[name]['macs']) > 0 and int(rows[name]['elementwise']) > 0
    added = params[ELA_T] - params[TOY]
    assert f'{params[ELA_T]:,} (+{added:,})' in md
    png = open(osp.join(grid, 'comparison.png'), 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_collector_writes_metafiles_of_measured_rows_only(tmp_path):
    root = tmp_path / 'root'
    shutil.copytree(osp.join(ROOT, 'configs'), root / 'configs')
    shutil.copy(osp.join(ROOT, 'model-index.yml'), root)
    grid = str(tmp_path / 'g')
    for seed, v in ELA_V.items():
        fake_run(grid, ELA_T, seed, {'pascal_voc/mAP': v}, config_hash=current_hash(ELA_T))
    with open(osp.join(grid, 'grid.json'), 'w') as f:
        json.dump(dict(schedule=None, seeds=[0, 1, 2]), f)
    meta = root / 'configs' / 'toy' / 'metafile.yml'
    with open(meta) as f:  # the row as before its first measurement, whatever is published
        header, published = f.readline(), yaml.safe_load(f)
    for m in published['Models']:
        if m['Name'] == ELA_T:
            m['Metadata']['Status'] = 'not yet trained'
            m['Results'] = [dict(Task='Object Detection', Dataset='toy VOC', Metrics={})]
    meta.write_text(header + yaml.safe_dump(published, sort_keys=False))
    with open(meta) as f:
        before = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    tool(
        'collect_grid.py',
        grid,
        '--no-cost',
        '--update-metafiles',
        '--root',
        str(root),
        '--machine',
        'M',
    )
    with open(root / 'configs' / 'toy' / 'metafile.yml') as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    ela = models[ELA_T]
    assert ela['Metadata']['Status'] == 'measured'
    assert ela['Results'][0]['Metrics'] == {'mAP': 0.72, 'mAP std': round(0.1 * math.sqrt(0.91), 4)}
    assert ela['Results'][0]['Training']['Seeds'] == [0, 1, 2]
    assert ela['Results'][0]['Training']['Machine'] == 'M'
    assert ela['Results'][0]['Training']['Schedule'] == 'as in the config'
    assert ela['Results'][0]['Training']['Config hash'] == current_hash(ELA_T)
    assert before[ELA_T] != ela
    for name, m in models.items():  # rows not in this grid keep what they had, measured or not
        if name != ELA_T:
            assert m == before[name], name


@pytest.mark.parametrize('recorded', [None, 'f00f00f00f00', 'mixed'])
def test_collector_never_publishes_a_run_of_another_config(tmp_path, recorded):
    """Runs without a record of their config, of a config that has changed since, or seeds of
    different configs are not written into the metafiles (nor tabulated as one row)."""
    root = tmp_path / 'root'
    shutil.copytree(osp.join(ROOT, 'configs'), root / 'configs')
    shutil.copy(osp.join(ROOT, 'model-index.yml'), root)
    grid = str(tmp_path / 'g')
    for seed, v in ELA_V.items():
        h = current_hash(ELA_T) if recorded == 'mixed' and seed else recorded
        fake_run(grid, ELA_T, seed, {'pascal_voc/mAP': v}, config_hash=h)
    before = (root / 'configs' / 'toy' / 'metafile.yml').read_text()
    out = tool(
        'collect_grid.py',
        grid,
        '--no-cost',
        '--update-metafiles',
        '--root',
        str(root),
        check=False,
    )
    assert out.returncode != 0
    why = {
        None: 'no config hash recorded',
        'f00f00f00f00': 'the config changed since the run (hash f00f00f00f00)',
        'mixed': 'ran different configs',
    }[recorded]
    assert why in out.stderr
    assert (root / 'configs' / 'toy' / 'metafile.yml').read_text() == before


def test_collector_refuses_a_folder_without_runs(tmp_path):
    out = tool('collect_grid.py', str(tmp_path), check=False)
    assert out.returncode != 0 and 'no runs in' in out.stderr and 'seed<k>' in out.stderr


# ---- one real mini grid: two runs on tiny toy data, run + collect


def test_mini_grid_runs_and_collects(tmp_path, toy_voc):
    data = toy_voc
    grid = str(tmp_path / 'g')
    small = [
        'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'model.data_preprocessor.batch_augments=None',
    ]
    args = [TOY, '--attentions', 'plain', 'ELA-T', '--seeds', '1', '--schedule', '1e']
    args += ['--grid-dir', grid, '--data-root', data, '--cfg-options', *small]
    out = tool('run_grid.py', *args, cwd=str(tmp_path))
    assert '[grid] all runs finished' in out.stdout
    for name in (TOY, ELA_T):
        log = open(osp.join(grid, name, 'seed0', 'run.log')).read()
        assert '--schedule: train_cfg.max_epochs: 24 -> 1' in log
    again = tool('run_grid.py', *args, cwd=str(tmp_path)).stdout  # all finished: nothing runs
    assert '2 runs (2 configs x 1 seeds), 2 finished, 0 to run' in again
    with open(osp.join(grid, 'grid.json')) as f:
        assert json.load(f)['threads_per_run'] == [1]  # OMP_NUM_THREADS=1, one run at a time
    out = tool('collect_grid.py', grid, '--no-cost').stdout
    assert ' cores, 1 torch thread per run, ' in open(osp.join(grid, 'comparison.md')).read()
    rows = [ln for ln in out.splitlines() if ln.startswith('| plain') or ln.startswith('| ELA-T')]
    assert len(rows) == 2 and '(n=1)' in rows[1]
    assert osp.isfile(osp.join(grid, 'comparison.png'))
