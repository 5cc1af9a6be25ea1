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
    from ela_mm.comparison.catalogue import expected_hash

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
    from ela_mm.comparison.catalogue import replaced_results

    rows = [dict(name=PLAIN, entry=dict(family='toy'), values={s: 0.0 for s in seeds})]
    replaced = replaced_results(rows, manifest, str(root))
    assert len(replaced) == 1 and replaced[0].startswith(f'{PLAIN} (published mAP 0.1839')
    for text in expect:
        assert text in replaced[0]
    same = dict(schedule=None, data_root=None, cfg_options=[])
    assert replaced_results([dict(rows[0], values={0: 0, 1: 0, 2: 0})], same, str(root)) == []
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


# ------------------------------------------------------------------ train.py: a run is what it says
class Reached(Exception):
    """Raised where train.py would build its runner: every check before it has passed."""


@pytest.fixture
def train_main(monkeypatch, tmp_path):
    """tools/train.py's main() in this process, stopped where it would build the runner."""
    import ela_mm.utils.launch as launch

    def stop(cfg):
        raise Reached(cfg)

    monkeypatch.setattr(launch, 'build_runner', stop)
    monkeypatch.chdir(ROOT)  # the toy configs' data_root is relative to the clone

    def call(*argv):
        return tool_main('train.py', list(argv), monkeypatch)

    return call


def test_resume_reapplies_the_schedule_it_was_started_with_or_refuses(capsys):
    from ela_mm.utils.launch import checkpoint_length, resume_schedule

    record = dict(schedule='6e')
    assert resume_schedule(None, record, 'w/run.json', 'CMD') == '6e'
    assert 're-applying it' in capsys.readouterr().out
    assert resume_schedule('6e', record, 'w/run.json', 'CMD') == '6e'
    assert resume_schedule('3e', {}, '', 'CMD') == '3e'  # no record: as given
    with pytest.raises(SystemExit, match=r'started with --schedule 6e.*Resume with: CMD --sched'):
        resume_schedule('3e', record, 'w/run.json', 'CMD')
    with pytest.raises(SystemExit, match="the config's own schedule"):
        resume_schedule('3e', dict(schedule=None), 'w/run.json', 'CMD')
    # the length the checkpoint's run had, from the config text mmengine stores in its meta
    text = "train_cfg = dict(\n    max_epochs=6, type='EpochBasedTrainLoop', val_interval=6)\n"
    assert checkpoint_length(dict(meta=dict(cfg=text))) == ('max_epochs', 6)
    assert checkpoint_length(dict(meta=dict(cfg='train_cfg = dict(max_iters=40'))) == (
        'max_iters',
        40,
    )


def test_resume_without_the_schedule_through_the_tool(train_main, tmp_path, capsys):
    import torch

    work = tmp_path / 'w'
    work.mkdir()
    text = "train_cfg = dict(max_epochs=6, type='EpochBasedTrainLoop', val_interval=6)\n"
    torch.save(dict(state_dict={}, meta=dict(cfg=text)), work / 'epoch_2.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    (work / 'run.json').write_text(json.dumps(dict(schedule='6e')))
    with pytest.raises(SystemExit, match='Resume with: .*--resume --schedule 6e'):
        train_main(TOY_DET, '--work-dir', str(work), '--resume', '--schedule', '12e')
    # without --schedule: the run's own is re-applied, then the checkpoint's fit is checked
    with pytest.raises(SystemExit, match='does not match the model'):
        train_main(TOY_DET, '--work-dir', str(work), '--resume')
    out = capsys.readouterr().out
    assert 're-applying it' in out and 'train_cfg.max_epochs: 24 -> 6' in out
    (work / 'run.json').unlink()  # no record: the checkpoint's own length still guards
    with pytest.raises(SystemExit, match='written by a run of max_epochs=6, this one is set to'):
        train_main(TOY_DET, '--work-dir', str(work), '--resume')


@pytest.fixture(scope='module')
def other_variant(tmp_path_factory):
    """A checkpoint of the toy ELA-B model, as mmengine writes it (meta names the run)."""
    import torch

    from ela_mm.utils.config import build_model, load_config

    cfg = load_config(TOY_DET)
    cfg.model.backbone.plugins[0].cfg.variant = 'B'
    path = tmp_path_factory.mktemp('ckpt') / 'epoch_24.pth'
    meta = dict(experiment_name='yolox_nano-ela-b_1xb16-24e_toyvoc_20260101_000000', epoch=24)
    torch.save(dict(state_dict=build_model(cfg).state_dict(), meta=meta), path)
    return str(path)


def test_load_from_another_variant_stops_before_anything_is_built(
    train_main, other_variant, toy_voc
):
    with pytest.raises(SystemExit) as e:
        train_main(TOY_DET, '--cfg-options', f'load_from={other_variant}')
    msg = str(e.value)
    assert msg.startswith(f"load_from: checkpoint '{other_variant}' does not match the model")
    assert 'backbone.stage2.ela.conv.weight' in msg
    assert 'written by config yolox_nano-ela-b_1xb16-24e_toyvoc (run 20260101_000000' in msg
    assert 'add --allow-partial-load' in msg
    with pytest.raises(SystemExit, match='To resume, use the config of that run'):
        train_main(TOY_DET, '--resume', other_variant)
    with pytest.raises(Reached):  # asked for: goes on to the runner (past the data check)
        train_main(
            TOY_DET,
            '--data-root',
            toy_voc,
            '--allow-partial-load',
            '--cfg-options',
            f'load_from={other_variant}',
        )


@pytest.mark.parametrize(
    'make,flag,pattern',
    [
        (lambda d: d, '--resume', 'is a folder, not a checkpoint file; it holds .*epoch_1.pth'),
        (
            lambda d: (d / 'last_checkpoint').write_text(str(d / 'epoch_1.pth')) and d,
            '--resume',
            'its latest checkpoint is .*epoch_1.pth',
        ),
        (lambda d: d / 'last_checkpoint', '--resume', 'pointer .* names, .*gone.pth.*, does not'),
        (lambda d: d / 'epoch_9.pth', 'load_from', 'no such file; .* holds .*epoch_1.pth'),
        (lambda d: d / 'empty.pth', 'load_from:', 'is empty'),
    ],
)
def test_checkpoint_hints_match_the_cause(train_main, tmp_path, make, flag, pattern):
    d = tmp_path / 'work'
    d.mkdir()
    (d / 'epoch_1.pth').write_bytes(b'\x80 not read here')
    (d / 'empty.pth').write_bytes(b'')
    if 'gone' in pattern:
        (d / 'last_checkpoint').write_text(str(d / 'gone.pth'))
    path = str(make(d))
    argv = ['--resume', path] if flag == '--resume' else ['--cfg-options', f'load_from={path}']
    with pytest.raises(SystemExit, match=f'^{flag} .*{pattern}'):
        train_main(TOY_DET, '--work-dir', str(tmp_path / 'w'), *argv)


# ------------------------------------------------------------------ options, names, arguments
def test_cfg_options_data_root_is_applied_as_data_root(train_main, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match=f"'{tmp_path}/VOC2007"):  # reads the new root
        train_main(TOY_DET, '--cfg-options', f'data_root={tmp_path}')
    assert f'applied as --data-root {tmp_path}' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="'img_scale' is a variable of the config file"):
        train_main(TOY_DET, '--cfg-options', 'img_scale=(64,64)')
    with pytest.raises(SystemExit, match='--data-root nope does not exist'):
        train_main(TOY_DET, '--data-root', 'nope')


def test_cfg_options_without_equals_is_a_usage_error(train_main, capsys):
    with pytest.raises(SystemExit):
        train_main(TOY_DET, '--cfg-options', 'train_cfg.max_epochs')
    assert "--cfg-options 'train_cfg.max_epochs': expected key=value" in capsys.readouterr().err


def test_config_name_is_resolved_or_suggested(train_main, capsys):
    with pytest.raises(FileNotFoundError):  # resolved, runs up to the data check (no data)
        train_main('yolox_nano-ela-t_1xb16-24e_toyvoc', '--data-root', osp.join(ROOT, 'tests'))
    assert 'using the shipped config' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='similar name: .*yolox_nano-ela-t_1xb16-24e_toyvoc.py'):
        train_main('yolox_nano-ela-t_1xb16-24e_toyvo')


@pytest.mark.parametrize(
    'option,pattern',
    [
        ('cfg.variant=X', r"cfg.variant: unknown ELA variant 'X'"),
        ('cfg.varient=B', r"cfg.varient: ELA takes no argument 'varient' \(did you mean 'vari"),
        ('cfg.kernel_size=5.0', r'cfg.kernel_size: must be an integer, got 5.0'),
        ('stages=True', r'stages: one True/False flag per stage'),
    ],
)
def test_attention_arguments_are_checked_before_the_build(train_main, option, pattern):
    with pytest.raises(SystemExit, match=f'model.backbone.plugins.0.{pattern}'):
        train_main(TOY_DET, '--cfg-options', f'model.backbone.plugins.0.{option}')


def test_num_workers_zero_needs_no_persistent_workers_option(capsys):
    from ela_mm.utils.config import load_config
    from ela_mm.utils.launch import fix_persistent_workers

    cfg = load_config(TOY_DET)
    cfg.merge_from_dict({'train_dataloader.num_workers': 0})
    assert fix_persistent_workers(cfg) == ['train_dataloader']
    assert cfg.train_dataloader.persistent_workers is False


def test_voc0712_config_on_a_voc2007_only_tree_names_the_missing_year(toy_voc):
    from ela_mm.utils.config import load_config
    from ela_mm.utils.data_check import check_data, set_data_root

    cfg = load_config(osp.join(ROOT, 'configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py'))
    set_data_root(cfg, toy_voc)
    with pytest.raises(FileNotFoundError, match='holds VOC2007 but no VOC2012') as e:
        check_data(cfg, ['train_dataloader'])
    assert 'regenerating it does not help' in str(e.value) and 'make_miniature' in str(e.value)


RTMDET_ELA = osp.join(ROOT, 'configs/rtmdet/rtmdet_tiny-ela-t_8xb32-300e_coco.py')


@pytest.mark.parametrize(
    'option,pattern',
    [
        ('attention.0.afer=stage4', r"attention.0.afer: an entry takes no key 'afer' \(did you "),
        ('host=CSPNext', r"host: host 'CSPNext' is in no registry"),
        ('attention.0.cfg=ela_tt', r"attention.0.cfg: unknown attention 'ela_tt' \(did you mean "),
        ('attention.0.cfg.type=ELAA', r"attention.0.cfg.type: 'ELAA' is not registered \(did you"),
        ('attention.0.cfg.varient=T', r"attention.0.cfg.varient: ELA takes no argument 'varient'"),
        ('attention.0.after=3', r'attention.0.after: a dotted module path or pattern'),
        ('attention.0.channels=2.5', r'attention.0.channels: an int or \{module path: int\}'),
        ('probe_size=0', r'probe_size: an int or \(H, W\) in pixels, got 0'),
    ],
)
def test_with_attention_arguments_are_checked_before_the_build(train_main, option, pattern):
    with pytest.raises(SystemExit, match=f'nothing was built:\n  model.backbone.{pattern}'):
        train_main(RTMDET_ELA, '--cfg-options', f'model.backbone.{option}')


def test_with_attention_entry_without_after_or_host_is_named():
    from ela_mm.utils.validate import attention_problems

    model = dict(backbone=dict(type='WithAttention', attention=[dict(cfg='ela_t')]))
    problems = attention_problems(model)
    assert problems[0].startswith('model.backbone.host: WithAttention needs host=<the backbone')
    assert problems[1].startswith("model.backbone.attention.0: no 'after'; an entry is dict(")
    assert attention_problems(dict(type='WithAttention', host='CSPNeXt', attention='ela')) == [
        "model.attention: a list of entries such as [dict(cfg=dict(type='ELA', variant='T'), "
        "after='stage[2-4].-1')], got 'ela'"
    ]
    # the shipped WithAttention configs pass
    from ela_mm.utils.config import load_config

    assert attention_problems(load_config(RTMDET_ELA).model) == []
