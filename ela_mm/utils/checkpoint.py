"""Checkpoints: load mmengine's through torch's safe (``weights_only``) unpickler, and refuse
one that does not fit the model.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10 calls ``torch.load``
without the argument, so every checkpoint an mmengine ``Runner`` wrote (its ``meta`` holds the
message hub's ``HistoryBuffer`` objects and numpy arrays and scalars) fails to load:
``--resume``, ``load_from`` and ``tools/test.py`` all break. Rather than switching the safe
loader off (which would run arbitrary pickled code from a downloaded file), ela_mm allowlists
exactly the globals mmengine writes:

* ``mmengine.logging.HistoryBuffer`` (the message hub's logged scalars);
* numpy's ``ndarray``, ``dtype``, ``_reconstruct``, ``scalar`` and the numeric dtype classes
  (arrays and numpy scalars in the logs and runtime info);
* ``builtins.getattr``, because a pickled ``HistoryBuffer`` stores its statistics methods as
  ``getattr(HistoryBuffer, 'mean')``. Allowing it gives attribute reads only: torch's safe
  unpickler still refuses to call anything that is not itself allowlisted (tested).

Anything else, ``os.system`` and friends included, is still refused.
"""

import os.path as osp
import pickle
import zipfile
from typing import List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _numpy_globals() -> List:
    """numpy's array and scalar reconstructors, under both the numpy 2 (``numpy._core``) and
    numpy 1 (``numpy.core``) module names that a checkpoint may carry."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    out: List = [np.ndarray, np.dtype]
    for fn in (multiarray._reconstruct, multiarray.scalar):
        out += [
            fn,
            (fn, f'numpy.core.multiarray.{fn.__name__}'),
            (fn, f'numpy._core.multiarray.{fn.__name__}'),
        ]
    # a pickled dtype is rebuilt through its class (numpy.dtypes.Float64DType, ...): the numeric
    # ones that logged scalars and metrics can have
    for t in (
        np.float16,
        np.float32,
        np.float64,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.bool_,
    ):
        out.append(type(np.dtype(t)))
    return out


#: the globals added to torch's safe-load allowlist by :func:`allow_mmengine_checkpoints`
MMENGINE_SAFE_GLOBALS: List = [HistoryBuffer, getattr] + _numpy_globals()


def allow_mmengine_checkpoints() -> None:
    """Allowlist the types of mmengine checkpoints for ``torch.load(weights_only=True)``.

    Called when ``ela_mm`` is imported. Idempotent.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:  # torch < 2.4 has no allowlist and loads with weights_only=False
        add(MMENGINE_SAFE_GLOBALS)


def read_checkpoint(path: str):
    """``torch.load`` (safe loader) with errors that say what is wrong with the file: missing,
    empty, not a checkpoint (garbage, truncated), or holding objects the safe loader refuses.
    None of them suggests ``weights_only=False``, which would run code from the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    size = osp.getsize(path)
    if size == 0:
        raise ValueError(f'checkpoint {path!r} is empty (0 bytes): not a readable checkpoint')
    with open(path, 'rb') as f:
        head = f.read(2)
    if not zipfile.is_zipfile(path) and head[:1] != b'\x80':  # torch.save: zip, or old pickle
        raise ValueError(
            f'{path!r} is not a readable checkpoint: neither a torch.save archive nor a '
            f'pickle ({size} bytes; truncated by an interrupted copy or download, or another '
            f'kind of file)'
        )
    try:
        return torch.load(path, map_location='cpu')
    except pickle.UnpicklingError as e:
        msg = str(e)
        if 'Unsupported global' in msg or 'unrecognized function' in msg:
            reason = next(
                (
                    line.strip()
                    for line in msg.splitlines()
                    if 'GLOBAL' in line or 'unrecognized' in line
                ),
                msg.splitlines()[-1],
            )
            raise ValueError(
                f"checkpoint {path!r} holds objects that torch's safe loader refuses ({reason}); "
                f'ela_mm allows exactly what mmengine writes. Load only checkpoints you trust, '
                f'and convert others to a plain state dict'
            ) from None
        raise ValueError(
            f'{path!r} is not a readable checkpoint ({msg.splitlines()[-1]})'
        ) from None
    except (EOFError, RuntimeError, OSError) as e:
        raise ValueError(
            f'{path!r} is not a readable checkpoint (truncated or damaged: {e})'
        ) from None


def check_checkpoint(model: torch.nn.Module, path: str, ckpt=None) -> dict:
    """Refuse a checkpoint whose weights do not fit the model (missing or unexpected keys,
    other shapes): mmengine would only warn and then evaluate a half-initialised model.
    ``ckpt``: the file's content when already read (:func:`read_checkpoint`). Returns the
    checkpoint's state dict (``module.`` prefixes removed)."""
    ckpt = read_checkpoint(path) if ckpt is None else ckpt
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        k
        for k in set(own) & set(state)
        if hasattr(state[k], 'shape') and state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:

        def few(keys):
            return ', '.join(keys[:5]) + (f' (+{len(keys) - 5} more)' if len(keys) > 5 else '')

        problems = [
            f'{len(keys)} {what}: {few(keys)}'
            for what, keys in (
                ('missing keys', missing),
                ('unexpected keys', unexpected),
                ('keys with other shapes', shapes),
            )
            if keys
        ]
        raise ValueError(
            f'checkpoint {path!r} does not match the model built from this config: '
            + '; '.join(problems)
            + '. Use the config the checkpoint was trained with (same '
            'attention type, variant and insertion stages, same number of classes).'
        )
    return state
