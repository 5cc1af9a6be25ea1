"""ela_mm.utils.cli: how every tool starts after parsing, and the import paths that moved out of
ela_mm.utils (they still import, with a warning that names the new path)."""

import argparse
import importlib
import sys
import warnings

import pytest

from ela_mm.utils import MOVED
from ela_mm.utils.cli import UPSTREAM_NOTICES, cfg_options, start


def _parser():
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--cfg-options', nargs='+')
    return parser


def test_cfg_options_parse_as_mmengine_does():
    got = cfg_options(_parser(), ['a.b=1', 'c=[1,2]', 'd=x', 'model.0.t=(1,2)'])
    assert got == {'a.b': 1, 'c': [1, 2], 'd': 'x', 'model.0.t': (1, 2)}
    assert cfg_options(_parser(), None) is None


@pytest.mark.parametrize('item', ['train_cfg.max_epochs', '=3'])
def test_cfg_options_without_key_value_are_usage_errors(item, capsys):
    with pytest.raises(SystemExit) as e:
        cfg_options(_parser(), [item])
    assert e.value.code == 2
    assert f'--cfg-options {item!r}: expected key=value' in capsys.readouterr().err


def test_start_parses_cfg_options_unless_told_to_keep_them():
    args = argparse.Namespace(cfg_options=['a=1'])
    assert start(_parser(), args).cfg_options == {'a': 1}
    kept = argparse.Namespace(cfg_options=['a=1'])
    assert start(_parser(), kept, parse_cfg_options=False).cfg_options == ['a=1']
    with pytest.raises(SystemExit):  # checked either way
        start(_parser(), argparse.Namespace(cfg_options=['a']), parse_cfg_options=False)


def test_start_hides_the_upstream_notices_and_nothing_else():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        start(_parser(), argparse.Namespace())
        warnings.warn('pkg_resources is deprecated as an API. See ...', UserWarning)
        warnings.warn('`torch.cuda.amp.autocast(args...)` is deprecated. Use ...', FutureWarning)
        warnings.warn('``build_loss`` would be deprecated soon, please use ...', UserWarning)
        warnings.warn('a notice of our own', UserWarning)
        warnings.warn('Default ``avg_non_ignore`` is False, ...', UserWarning)  # advice: shown
    assert [str(w.message) for w in seen] == [
        'a notice of our own',
        'Default ``avg_non_ignore`` is False, ...',
    ]
    assert len(UPSTREAM_NOTICES) == 3


@pytest.mark.parametrize('old,new', sorted(MOVED.items()))
def test_moved_modules_import_from_their_old_path_with_a_warning(old, new):
    sys.modules.pop(f'ela_mm.utils.{old}', None)
    with pytest.warns(DeprecationWarning, match=f'ela_mm.utils.{old} moved to {new}'):
        module = importlib.import_module(f'ela_mm.utils.{old}')
    assert module is importlib.import_module(new)
    assert module.__spec__.name == new  # the moved module keeps its own spec


def test_names_the_docs_once_showed_still_import():
    for old in ('model_index', 'timing'):
        sys.modules.pop(f'ela_mm.utils.{old}', None)
    with pytest.warns(DeprecationWarning):
        from ela_mm.utils.model_index import result_status
        from ela_mm.utils.timing import peak_bytes
    from ela_mm.analysis.timing import peak_bytes as new_peak
    from ela_mm.comparison.catalogue import result_status as new_status

    assert result_status is new_status and peak_bytes is new_peak
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('ela_mm.utils.no_such_module')
