"""The config-name grammar and the model index: one parser for every tool; what a published
result was measured with, and when it is stale."""

import json
import os.path as osp

import pytest

from ela_mm.comparison.catalogue import (
    ConfigName,
    attention_label,
    comparison_rows,
    load_model_index,
    parse_config_name,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize(
    'name,parsed',
    [
        (
            'yolox_nano-ela-t_8xb8-300e_voc0712',
            ConfigName('yolox_nano', 'ELA-T', '8xb8', '300e', 'voc0712', None),
        ),
        (
            'configs/deeplabv3/deeplabv3_r50-d8-ca_4xb4-20k_voc12aug-512x512.py',
            ConfigName('deeplabv3_r50-d8', 'CA', '4xb4', '20k', 'voc12aug', '512x512'),
        ),
        ('resnet50_8xb32_in1k', ConfigName('resnet50', None, '8xb32', None, 'in1k', None)),
        ('resnet50-cbam_8xb32_in1k', ConfigName('resnet50', 'CBAM', '8xb32', None, 'in1k', None)),
        (
            'mobilenet-v2-ela-s_8xb32_in1k',
            ConfigName('mobilenet-v2', 'ELA-S', '8xb32', None, 'in1k', None),
        ),
        (
            'deeplabv3_r50-d8-w16-ela-b_1xb8-3000it_toyvoc-128x128',
            ConfigName('deeplabv3_r50-d8-w16', 'ELA-B', '1xb8', '3000it', 'toyvoc', '128x128'),
        ),
    ],
)
def test_parse_config_name(name, parsed):
    assert parse_config_name(name) == parsed


def test_baseline_name():
    p = parse_config_name('deeplabv3_r50-d8-ela-b_4xb4-40k_voc12aug-512x512')
    assert p.baseline == 'deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512'
    assert parse_config_name('resnet50-se_8xb32_in1k').baseline == 'resnet50_8xb32_in1k'


@pytest.mark.parametrize('name', ['yolox_nano', 'resnet50_8xb32_imagenet', 'x-ela-t_8xb8'])
def test_bad_names_are_refused(name):
    with pytest.raises(ValueError, match='does not follow'):
        parse_config_name(name)


def test_attention_label():
    assert attention_label([]) == 'none'
    assert attention_label([dict(type='ELA', variant='t')]) == 'ELA-T'
    assert attention_label([dict(type='ELA')]) == 'ELA-B'
    assert attention_label([dict(type='SE'), dict(type='CoordAtt')]) == 'SE, CA'


def test_every_indexed_name_agrees_with_its_metafile_attention(root):
    models = load_model_index(root)
    assert models
    for m in models:
        assert (m['parsed'].attention or 'none') == m['Metadata']['Attention'], m['Name']


def test_comparison_rows(root):
    rows = comparison_rows(root, 'yolox_nano_8xb8-300e_voc0712')
    assert [r['parsed'].attention for r in rows] == [None, 'ELA-T', 'SE', 'ECA', 'CA', 'CBAM']
    with pytest.raises(ValueError, match="no plain baseline 'nope'"):
        comparison_rows(root, 'nope')


TOY_PLAIN = 'configs/toy/yolox_nano_1xb16-24e_toyvoc.py'


def test_config_hash_sees_what_a_run_computes_only():
    from ela_mm.comparison.catalogue import config_hash
    from ela_mm.utils.config import load_config

    cfg = load_config(osp.join(ROOT, TOY_PLAIN))
    h = config_hash(cfg)
    assert len(h) == 12 and h == config_hash(load_config(osp.join(ROOT, TOY_PLAIN)))
    for key, value in (
        ('work_dir', '/elsewhere'),
        ('randomness', dict(seed=7)),
        ('launcher', 'pytorch'),
        ('default_hooks.logger.interval', 1),
    ):
        other = load_config(osp.join(ROOT, TOY_PLAIN))
        other.merge_from_dict({key: value})
        assert config_hash(other) == h, key
    for key, value in (
        ('optim_wrapper.optimizer.lr', 0.05),
        ('train_cfg.max_epochs', 25),
        ('model.backbone.widen_factor', 0.5),
        ('test_dataloader.dataset.ann_file', 'VOC2007/ImageSets/Main/val.txt'),
    ):
        other = load_config(osp.join(ROOT, TOY_PLAIN))
        other.merge_from_dict({key: value})
        assert config_hash(other) != h, key


def _measured(path, **training):
    from ela_mm.comparison.catalogue import parse_config_name

    name = osp.splitext(osp.basename(path))[0]
    return dict(
        Name=name,
        Metadata=dict(Status='measured'),
        Results=[
            dict(Metrics={'mAP': 0.8}, Training=dict(Schedule='as in the config', **training))
        ],
        path=path,
        parsed=parse_config_name(name),
    )


def test_a_result_goes_stale_when_its_config_or_a_base_changes(tmp_path):
    """A published score is current only for the config it was measured with: editing the
    config file, or the file it inherits from, makes it stale; so does an earlier toy set."""
    from ela_mm.comparison.catalogue import expected_hash, result_status
    from ela_mm.datasets.toy_voc import CROPS_VERSION, GENERATOR_VERSION

    base = tmp_path / 'yolox_nano_1xb16-24e_toyvoc.py'
    base.write_text(f"_base_ = '{osp.join(ROOT, TOY_PLAIN)}'\n")
    row = tmp_path / 'yolox_nano-ela-t_1xb16-24e_toyvoc.py'
    row.write_text(
        "_base_ = './yolox_nano_1xb16-24e_toyvoc.py'\n"
        "model = dict(backbone=dict(type='PluginCSPDarknet', plugins=[dict(\n"
        "    cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))]))\n"
    )
    data = dict(generator_version=GENERATOR_VERSION, seed=0)
    entry = _measured(str(row), Data=data)
    entry['Results'][0]['Training']['Config hash'] = expected_hash(entry)
    assert result_status(entry) == 'current'
    with open(row, 'a') as f:
        f.write('optim_wrapper = dict(optimizer=dict(lr=0.05))\n')
    assert result_status(entry).startswith('stale: the config changed')
    entry['Results'][0]['Training']['Config hash'] = expected_hash(entry)
    with open(base, 'a') as f:
        f.write('train_cfg = dict(max_epochs=25)\n')
    assert result_status(entry).startswith('stale: the config changed')
    entry['Results'][0]['Training']['Config hash'] = expected_hash(entry)
    assert result_status(entry) == 'current'
    # a change of the classification crops alone: stale only where the crops were read
    entry['Results'][0]['Training']['Data'] = dict(data, crops_version=CROPS_VERSION - 1)
    assert result_status(entry) == (
        'stale: measured on an earlier version of the toy classification crops'
    )
    entry['Results'][0]['Training']['Data'] = dict(data, crops_version=CROPS_VERSION)
    assert result_status(entry) == 'current'
    entry['Results'][0]['Training']['Data'] = dict(data, generator_version=GENERATOR_VERSION - 1)
    assert result_status(entry) == 'stale: measured on an earlier version of the toy data'
    entry['Results'][0]['Training']['Data'] = data
    entry['Config'] = 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py'
    row.rename(tmp_path / 'renamed.py')  # a renamed config: its old result belongs to no file
    assert result_status(entry) == f'stale: its config {entry["Config"]} no longer exists'
    del entry['Results'][0]['Training']['Config hash']
    assert 'no config hash recorded' in result_status(entry)
    entry['Metadata']['Status'] = 'not yet trained'
    assert result_status(entry) == 'not measured'


def test_the_data_record_names_the_crops_only_where_a_config_reads_them(tmp_path):
    """A detection or segmentation result does not go stale when only the classification
    crops change: its record carries the crops' version and the number of images drawn for
    crops alone only for configs that read them."""
    from mmengine import Config

    from ela_mm.comparison.catalogue import data_stamp
    from ela_mm.datasets.toy_voc import CROPS_KEYS, CROPS_VERSION, STAMP, stamp_of

    (tmp_path / STAMP).write_text(json.dumps(stamp_of(8, 2, 4, 0, num_cls_extra=5)))
    (tmp_path / 'VOC2007').mkdir()
    (tmp_path / 'classification').mkdir()
    det = data_stamp(Config(dict(data_root=f'{tmp_path}/VOC2007/')))
    cls = data_stamp(Config(dict(data_root=f'{tmp_path}/classification')))
    assert not set(CROPS_KEYS) & set(det) and det['num_train'] == 8
    assert cls['crops_version'] == CROPS_VERSION and cls['num_cls_extra'] == 5
    assert {k: v for k, v in cls.items() if k not in CROPS_KEYS} == det


# ------------------------------------------------------------------ the one family table
def test_every_family_names_a_plain_baseline_of_its_folder():
    from ela_mm.comparison.catalogue import FAMILIES, comparison_rows, load_model_index

    index = {m['Name']: m for m in load_model_index(ROOT)}
    for name, fam in FAMILIES.items():
        rows = comparison_rows(ROOT, fam.baseline)
        assert rows[0]['Name'] == fam.baseline and rows[0]['Metadata']['Attention'] == 'none'
        assert index[fam.baseline]['family'] == fam.folder, name
        assert len(rows) >= 2, f'{name}: a family compares at least one attention row'


def test_every_config_belongs_to_a_family_with_its_task():
    from ela_mm.comparison.catalogue import SCOPE_TASKS, family_of, load_model_index
    from ela_mm.utils.config import load_config

    for entry in load_model_index(ROOT):
        fam = family_of(entry['family'], entry['Name'])
        assert fam.folder == entry['family']
        assert entry['Results'][0]['Task'] == fam.task, entry['Name']
        if fam.folder == 'toy':  # the toy families' tasks follow their scopes
            assert SCOPE_TASKS[load_config(entry['path']).default_scope] == fam.task
    with pytest.raises(ValueError, match='no family of ela_mm.comparison.catalogue.FAMILIES'):
        family_of('nowhere', 'yolox_nano_8xb8-300e_coco')


def test_one_row_order_everywhere():
    from ela_mm.comparison.catalogue import FAMILIES, ROW_ORDER, comparison_rows, row_rank

    assert ROW_ORDER[0] == 'none' and row_rank('plain') == row_rank(None) == 0
    assert row_rank('CBAM') > row_rank('CA') > row_rank('SE') > row_rank('ELA-L')
    for fam in FAMILIES.values():
        labels = [m['Metadata']['Attention'] for m in comparison_rows(ROOT, fam.baseline)]
        assert labels == sorted(labels, key=row_rank)


def test_no_tool_reads_or_writes_metafile_yaml_itself():
    import glob

    for path in glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True):
        with open(path) as f:
            text = f.read()
        assert 'import yaml' not in text and 'safe_dump' not in text, path
