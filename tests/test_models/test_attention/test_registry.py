"""Registry look-ups from every OpenMMLab scope, mmcv's plugin builder, and the factory."""

import pytest
from mmcv.cnn import build_plugin_layer
from mmengine.registry import DefaultScope

from ela_mm import CBAM, ECA, ELA, SE, CoordAtt, build_attention


@pytest.mark.parametrize('scope', [None, 'mmdet', 'mmseg', 'mmpretrain'])
def test_build_plugin_layer_from_every_scope(scope):
    import mmdet.registry  # noqa: F401
    import mmpretrain.registry  # noqa: F401
    import mmseg.registry  # noqa: F401

    with DefaultScope.overwrite_default_scope(scope):
        for cfg, cls, abbr in [
            (dict(type='ELA', variant='T'), ELA, 'ela'),
            (dict(type='ELA-S'), ELA, 'ela'),
            (dict(type='SE'), SE, 'se'),
            (dict(type='ECA'), ECA, 'eca'),
            (dict(type='CoordAtt'), CoordAtt, 'coord_att'),
            (dict(type='CBAM'), CBAM, 'cbam'),
        ]:
            layer_name, layer = build_plugin_layer(cfg, postfix='_1', in_channels=64)
            assert isinstance(layer, cls), (scope, cfg)
            assert layer_name == f'{abbr}_1'
    _, ela_s = build_plugin_layer(dict(type='ELA-S'), in_channels=64)
    assert ela_s.variant == 'S'


def test_variant_alias_and_factory():
    assert build_attention('ELA-S', 64).variant == 'S'
    assert build_attention('ela_t', 64).variant == 'T'
    assert build_attention('ela', 64).variant == 'B'
    m = build_attention(dict(type='ELA', variant='l', shared=False), 64)
    assert (m.variant, m.shared) == ('L', False)
    assert build_attention('eca', 512, kernel_size=3).kernel_size == 3
    assert isinstance(build_attention('ca', 64), CoordAtt)
    assert isinstance(build_attention('cbam', 64), CBAM)
    with pytest.raises(ValueError, match=r"unknown attention 'sa'.*known"):
        build_attention('sa', 64)
    with pytest.raises(ValueError, match='has no "type"'):
        build_attention(dict(variant='T'), 64)


def test_the_variant_classes_are_ordinary_classes():
    import inspect

    from mmengine.registry import MODELS

    from ela_mm.models.attention import ela

    for key in 'TBSL':
        cls = getattr(ela, f'ELA_{key}')
        assert MODELS.get(f'ELA-{key}') is cls and issubclass(cls, ela.ELA)
        assert f'class ELA_{key}(' in inspect.getsource(cls)  # written as a class, not type()
        m = cls(64)
        assert m.variant == key and type(m).__name__ == f'ELA_{key}'
