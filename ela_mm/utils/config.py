"""Config and model helpers shared by the tools and tests: load any shipped or downstream config
(file path or ``pkg::`` form), build its model in the config's own scope, feed it a tiny input."""

import difflib
import importlib
import os
import os.path as osp
from typing import Any, List, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope


def load_config(path: str) -> Config:
    """``Config.fromfile`` that also accepts ``mmdet::yolox/...``-style paths."""
    if '::' in path:
        from mmengine.hub import get_config

        return get_config(path)
    return Config.fromfile(path)


def scope_registry(scope: str):
    """The ``MODELS`` registry of an OpenMMLab scope ('mmdet', 'mmseg', 'mmpretrain')."""
    return importlib.import_module(f'{scope}.registry').MODELS


def build_model(cfg: Config, offline: bool = True) -> nn.Module:
    """Build ``cfg.model`` in ``cfg.default_scope``. ``offline`` drops pretrained-weight settings
    (URLs cannot be fetched here); the config object itself is not changed."""
    model_cfg = cfg.model.copy()
    if offline:
        model_cfg.pop('pretrained', None)
        if isinstance(model_cfg.get('backbone'), dict):
            model_cfg['backbone'] = model_cfg['backbone'].copy()
            model_cfg['backbone'].pop('init_cfg', None)
    scope = cfg.get('default_scope')
    with DefaultScope.overwrite_default_scope(scope):
        model = scope_registry(scope).build(model_cfg) if scope else None
    if model is None:
        raise ValueError('config has no default_scope: cannot tell which library builds it')
    return model


def tensor_outputs(out: Any) -> Tuple[torch.Tensor, ...]:
    """All tensors in a nested model output (tuples, lists, dicts)."""
    if isinstance(out, torch.Tensor):
        return (out,)
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        return tuple(t for o in out for t in tensor_outputs(o))
    return ()


def input_size(cfg: Config, default: int = 224) -> Tuple[int, int]:
    """The (H, W) a config's model sees at test time: its ``crop_size`` (mmseg), else a crop
    in the test pipeline (mmpretrain ``CenterCrop``), else the test ``Resize`` scale (mmdet)."""

    def hw(s):
        return (s, s) if isinstance(s, int) else (int(s[1]), int(s[0]))  # configs write (w, h)

    if cfg.get('crop_size'):
        return tuple(cfg.crop_size)
    pipeline = cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get('dataset', {}).get(
        'pipeline', []
    )
    for key in ('crop_size', 'scale'):
        for t in pipeline:
            if t.get(key) is not None:
                return hw(t[key])
    return default, default


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def config_dirs() -> List[str]:
    """Where the shipped configs are: ``<clone>/configs`` when the package runs from its source
    tree (a clone, an editable install), else ``<installed ela_mm>/.mim/configs`` (wheel,
    sdist)."""
    pkg = osp.dirname(osp.dirname(osp.abspath(__file__)))
    clone = osp.dirname(pkg)
    dirs = [osp.join(pkg, '.mim', 'configs')]
    if osp.isfile(osp.join(clone, 'setup.py')) and osp.isfile(osp.join(clone, 'model-index.yml')):
        dirs.insert(0, osp.join(clone, 'configs'))
    return [d for d in dirs if osp.isdir(d)]


def config_path(name: str) -> str:
    """The absolute path of a shipped config, e.g. ``config_path('yolox/yolox_nano-ela-t_8xb8-
    300e_voc0712.py')``. A downstream config inherits one portably with::

        _base_ = __import__('ela_mm').config_path('yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py')

    (mmengine evaluates the ``_base_`` expression; ``ela_mm::`` does not work, see
    docs/user_guides/downstream.md)."""
    dirs = config_dirs()
    for d in dirs:
        if osp.isfile(osp.join(d, name)):
            return osp.join(d, name)
    known = sorted(
        osp.relpath(osp.join(r, f), d)
        for d in dirs
        for r, _, files in os.walk(d)
        for f in files
        if f.endswith('.py')
    )
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.3)
    raise FileNotFoundError(
        f'no shipped config {name!r} in {dirs or "ela_mm (no configs folder found)"}; '
        f'closest: {", ".join(close) or "none"}'
    )


def resolve_config(path: str) -> str:
    """The config file a user means: a path as given; a shipped config's *name* (what
    ``tools/run_grid.py`` and the metafiles call it, with or without ``.py``) resolved to its
    file, saying so; otherwise a ``FileNotFoundError`` that names the closest shipped configs."""
    if '::' in path or osp.isfile(path):
        return path
    if osp.isdir(path):
        raise FileNotFoundError(f'config {path!r} is a folder: pass a config file in it')
    name = osp.basename(path)
    stem = name[:-3] if name.endswith('.py') else name
    found = {}
    for d in config_dirs():
        for r, _, files in os.walk(d):
            for f in files:
                if f.endswith('.py'):
                    found.setdefault(f[:-3], osp.join(r, f))
    if stem in found:
        print(f'config {path!r}: no such file; using the shipped config {found[stem]}', flush=True)
        return found[stem]
    close = difflib.get_close_matches(stem, list(found), n=3, cutoff=0.5)
    raise FileNotFoundError(
        f'config {path!r} does not exist (relative to the current folder {os.getcwd()})'
        + (
            f'; shipped configs with a similar name: {", ".join(found[c] for c in close)}'
            if close
            else ''
        )
    )
