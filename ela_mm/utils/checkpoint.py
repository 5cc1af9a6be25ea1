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

import os
import os.path as osp
import pickle
import re
import zipfile
from typing import List, Optional

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


def resolve_checkpoint(path: str, flag: str = 'checkpoint') -> str:
    """The checkpoint file a user means by ``path``, or an error whose hint fits the cause: a
    folder (a work dir: name its latest checkpoint, or the files it holds), mmengine's
    ``last_checkpoint`` pointer (followed to the file it names, which must exist), or a path
    that does not exist (with the checkpoints next to it)."""
    if osp.isdir(path):
        pointer = osp.join(path, 'last_checkpoint')
        latest = _pointed(pointer) if osp.isfile(pointer) else None
        files = sorted(f for f in os.listdir(path) if f.endswith('.pth'))
        hint = (
            f'its latest checkpoint is {latest} (pass that file, or --resume without a file and '
            f'--work-dir {path} to continue that run)'
            if latest
            else f'it holds {", ".join(files[:6])}: pass one of them'
            if files
            else 'it holds no .pth file'
        )
        raise FileNotFoundError(f'{flag} {path!r} is a folder, not a checkpoint file; {hint}')
    if osp.basename(path) == 'last_checkpoint' and osp.isfile(path):
        target = _pointed(path)
        if not osp.isfile(target):
            raise FileNotFoundError(
                f"{flag} {path!r} is mmengine's pointer to the latest checkpoint, and the file it "
                f'names, {target!r}, does not exist (moved or deleted): pass a checkpoint file'
            )
        print(f'{flag} {path}: the pointer names {target}', flush=True)
        return target
    if not osp.exists(path):
        folder = osp.dirname(path) or '.'
        near = (
            sorted(f for f in os.listdir(folder) if f.endswith('.pth')) if osp.isdir(folder) else []
        )
        raise FileNotFoundError(
            f'{flag} {path!r}: no such file'
            + (f'; {folder} holds {", ".join(near[:6])}' if near else '')
        )
    return path


def _pointed(pointer: str) -> str:
    """The checkpoint path a ``last_checkpoint`` file names (relative: to the folder)."""
    with open(pointer) as f:
        target = f.read().strip()
    return (
        target
        if osp.isabs(target) or osp.exists(target)
        else osp.join(osp.dirname(pointer), osp.basename(target))
    )


def checkpoint_origin(ckpt) -> Optional[str]:
    """What a checkpoint says it came from: 'config <name> (run <timestamp>, epoch e, iter i)',
    from the ``meta`` mmengine writes; ``None`` when it says nothing."""
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict):
        return None
    name = meta.get('experiment_name')
    if not isinstance(name, str):
        return None
    m = re.match(r'^(.*)_(\d{8}_\d{6})$', name)
    config, run = (m[1], m[2]) if m else (name, None)
    details = ([f'run {run}'] if run else []) + [
        f'{k} {meta[k]}' for k in ('epoch', 'iter') if meta.get(k) is not None
    ]
    return f'config {config}' + (f' ({", ".join(details)})' if details else '')


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


def check_checkpoint(model: torch.nn.Module, path: str, ckpt=None, fix: str = '') -> dict:
    """Refuse a checkpoint whose weights do not fit the model (missing or unexpected keys,
    other shapes): mmengine would only warn and then evaluate a half-initialised model.
    ``ckpt``: the file's content when already read (:func:`read_checkpoint`); ``fix``: a
    sentence appended to the error. Returns the checkpoint's state dict (``module.`` prefixes
    removed)."""
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
        origin = checkpoint_origin(ckpt)
        raise ValueError(
            f'checkpoint {path!r} does not match the model built from this config: '
            + '; '.join(problems)
            + (f'. The checkpoint was written by {origin}' if origin else '')
            + '. Use the config the checkpoint was trained with (same '
            'attention type, variant and insertion stages, same number of classes).'
            + (f' {fix}' if fix else '')
        )
    return state
