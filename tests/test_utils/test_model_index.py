"""The config-name grammar and the model index: one parser for every tool."""

import pytest

from ela_mm.utils.model_index import (
    ConfigName,
    attention_label,
    comparison_rows,
    load_model_index,
    parse_config_name,
)


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
            'deeplabv3_r50-d8-w16-ela-b_1xb8-300it_toyvoc-128x128',
            ConfigName('deeplabv3_r50-d8-w16', 'ELA-B', '1xb8', '300it', 'toyvoc', '128x128'),
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
