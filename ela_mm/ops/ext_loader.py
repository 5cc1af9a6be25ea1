"""Load ela_mm's compiled CPU kernels (``ela_mm._ext``), loudly when a build is broken.

* No extension file (installed with ``ELA_MM_WITH_EXT=0``), or ``ELA_MM_WITH_EXT=0`` set at run
  time: ``None``, quietly; the ops run their PyTorch code (same results, slower on CPU).
* An extension file that fails to import (built against another torch, say): ``None`` and ONE
  warning that names the file, the error and the rebuild command.
"""

import importlib
import importlib.util
import os
import warnings
from types import ModuleType
from typing import Optional

REBUILD = (
    'make ext  (in a clone; or: pip install --no-build-isolation --force-reinstall '
    '--no-deps ela_mm, from the source you installed)'
)


def load_ext(name: str = 'ela_mm._ext') -> Optional[ModuleType]:
    """The compiled extension module, or ``None`` (see the module docstring)."""
    if os.environ.get('ELA_MM_WITH_EXT', '1') == '0':
        return None
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:  # parent package missing
        spec = None
    if spec is None:
        return None
    try:
        return importlib.import_module(name)
    except ImportError as e:  # a present but unloadable file: an ABI mismatch, a broken build
        warnings.warn(
            f'ela_mm: the compiled extension {spec.origin} failed to load ({e}). ela_mm runs '
            f'its pure PyTorch path instead (same results, slower on CPU). Rebuild the '
            f'extension against the installed torch: {REBUILD}',
            RuntimeWarning,
            stacklevel=2,
        )
        return None


#: the extension of this installation, loaded once (``None``: pure PyTorch)
ext: Optional[ModuleType] = load_ext()


def has_fused_kernels() -> bool:
    """Whether the compiled CPU kernels (``ela_mm._ext``) are loaded."""
    return ext is not None


def kernels_in_use() -> str:
    """One line saying which kernels run: the compiled extension and its file, or PyTorch."""
    if ext is None:
        return 'ela_mm kernels: pure PyTorch (no compiled extension loaded)'
    return f'ela_mm kernels: compiled CPU extension {ext.__file__}'
