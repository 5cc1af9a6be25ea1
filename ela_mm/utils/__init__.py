"""Setting up a run (what ``tools/train.py`` and ``tools/test.py`` share), one file per concern:

* ``config``: load shipped or downstream configs (names resolved), build models;
* ``launch``: arguments applied, distributed start-up, CPU SyncBN, the runner;
* ``record``: what a run records of itself (``run.json``: config hash, toy data stamp);
* ``cli``: the command-line start of every tool (upstream notices, shared options);
* ``validate``: attention arguments checked with their dotted config key;
* ``data_check``: dataset and evaluator paths, ``--data-root``, early errors for missing data;
* ``checkpoint``: safe loading of mmengine checkpoints, fit checks;
* ``schedule``: ``--schedule``, a recipe shortened or lengthened with every phase kept.

Measuring a model without data is :mod:`ela_mm.analysis`; the comparison grid and the catalogue
of configs are :mod:`ela_mm.comparison`. Their modules lived here before; the old import paths
(``ela_mm.utils.timing``, ``ela_mm.utils.model_index``, ...) still import the moved module, with
a ``DeprecationWarning`` that names the new path. Import the module you need; nothing is
imported here."""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: the modules that moved out of ``ela_mm.utils``: old name -> new module
MOVED = {
    'timing': 'ela_mm.analysis.timing',
    'memory': 'ela_mm.analysis.memory',
    'flops': 'ela_mm.analysis.flops',
    'synthetic': 'ela_mm.analysis.synthetic',
    'report': 'ela_mm.analysis.report',
    'visualization': 'ela_mm.analysis.visualization',
    'grid': 'ela_mm.comparison.grid',
    'results': 'ela_mm.comparison.results',
    'stats': 'ela_mm.comparison.stats',
    'model_index': 'ela_mm.comparison.catalogue',
}


class _MovedModule(importlib.abc.Loader, importlib.abc.MetaPathFinder):
    """Imports ``ela_mm.utils.<old>`` as the module it moved to (the same module object, so
    that its functions and state are shared), warning once per import with the new path."""

    def __init__(self) -> None:
        self._specs = {}  # new module name -> its own spec, between create and exec

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition('.')
        if prefix != __name__ or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED[spec.name.rpartition('.')[2]]
        warnings.warn(
            f'{spec.name} moved to {new}; import it from there', DeprecationWarning, stacklevel=2
        )
        module = importlib.import_module(new)
        self._specs[module.__name__] = module.__spec__  # the machinery sets the alias spec next
        return module

    def exec_module(self, module):
        module.__spec__ = self._specs.pop(module.__name__)  # it keeps its own (reload, pickle)


if not any(isinstance(f, _MovedModule) for f in sys.meta_path):
    sys.meta_path.append(_MovedModule())


def __getattr__(name: str):
    """``from ela_mm.utils import timing`` (an old path) imports the moved module."""
    if name in MOVED:
        return importlib.import_module(f'{__name__}.{name}')
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
