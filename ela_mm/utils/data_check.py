"""Datasets of a config: where their paths live (as dotted keys), pointing them at your copy
(``--data-root``), and failing early, naming the missing path and the fix, instead of deep
inside a dataset class."""

import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config

DATA_DOCS = {
    'toy_voc': 'python tools/misc/make_toy_voc.py  (or: make demo)',
    'coco': 'docs/user_guides/datasets.md, "COCO 2017"',
    'VOCdevkit': 'docs/user_guides/datasets.md, "Pascal VOC 07+12 / VOC 2012 aug"',
    'imagenet': 'docs/user_guides/datasets.md, "ImageNet-1k"',
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: a clone's root, where the configs' relative data paths (data/...) usually live
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def datasets(cfg, loaders=LOADERS) -> Iterator[Tuple[str, dict]]:
    """``(dotted key, dataset config)`` of every leaf dataset under the given dataloaders,
    through wrappers (``dataset=``, ``datasets=[...]``), e.g.
    ``train_dataloader.dataset.dataset.datasets.0``."""

    def walk(d, key):
        if not isinstance(d, dict):
            return
        if 'datasets' in d:
            for i, x in enumerate(d['datasets']):
                yield from walk(x, f'{key}.datasets.{i}')
        elif 'dataset' in d:
            yield from walk(d['dataset'], f'{key}.dataset')
        else:
            yield key, d

    for name in loaders:
        loader = cfg.get(name)
        if loader:
            yield from walk(loader.get('dataset'), f'{name}.dataset')


#: the evaluator of each dataloader (tools/train.py validates, tools/test.py tests)
EVALUATORS = {'val_dataloader': 'val_evaluator', 'test_dataloader': 'test_evaluator'}
#: evaluator options that name a file the evaluator opens (mmdet's CocoMetric, LVISMetric, ...)
EVALUATOR_FILES = ('ann_file',)


def evaluators(cfg, loaders=LOADERS) -> Iterator[Tuple[str, dict, str]]:
    """``(dotted key, evaluator config, its dataloader)`` of the evaluators of the given
    dataloaders, single ones (``val_evaluator``) and lists (``test_evaluator.1``)."""
    for loader in loaders:
        name = EVALUATORS.get(loader)
        ev = cfg.get(name) if name else None
        if isinstance(ev, dict):
            yield name, ev, loader
        elif isinstance(ev, (list, tuple)):
            for i, e in enumerate(ev):
                if isinstance(e, dict):
                    yield f'{name}.{i}', e, loader


def _under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (by path components: data/coco2 is not in data/coco)."""
    path, root = osp.normpath(path), osp.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _moved(path: str, old: Optional[str], root: str) -> Optional[str]:
    """``path`` with the config's old data root replaced by ``root``, or None if it is not under
    the old root."""
    if not (isinstance(path, str) and old) or '://' in path or not _under(path, old):
        return None
    rest = osp.relpath(osp.normpath(path), osp.normpath(old))
    return root if rest == '.' else osp.join(root, rest)


def set_data_root(cfg: Config, root: str) -> List[str]:
    """Point every dataset of ``cfg`` at ``root``, and every file an evaluator reads from the
    dataset (COCO's ``ann_file``); return the dotted keys it set.

    A dataset whose ``data_root`` starts with the config's own ``data_root`` variable keeps the
    rest of its path (``data/toy_voc/VOC2007`` -> ``<root>/VOC2007`` when the config's
    ``data_root`` is ``data/toy_voc``); datasets without one get ``root`` itself. An evaluator's
    file under the old ``data_root`` moves the same way; one that ends with its dataloader's
    dataset's ``ann_file`` becomes that dataset's file under its new ``data_root``. What still
    points elsewhere is listed by :func:`paths_outside`."""
    old = cfg.get('data_root')
    old = old.rstrip('/') if isinstance(old, str) else None
    changed = []
    for key, ds in datasets(cfg):
        current = ds.get('data_root')
        if isinstance(current, str) and old and current.rstrip('/').startswith(old):
            new = osp.join(root, current.rstrip('/')[len(old) :].lstrip('/'))
        else:
            new = root
        ds['data_root'] = new.rstrip('/') + ('/' if (current or '').endswith('/') else '')
        changed.append(f'{key}.data_root')
    seen = set()
    for key, ev, loader in evaluators(cfg):
        if id(ev) in seen:
            continue
        seen.add(id(ev))
        for name in EVALUATOR_FILES:
            path = ev.get(name)
            if not isinstance(path, str) or not path or '://' in path:
                continue
            new = _moved(path, old, root)
            if new is None:  # e.g. written without the data_root variable
                new = _dataset_file(cfg, loader, path)
            if new is not None and new != path:
                ev[name] = new
                changed.append(f'{key}.{name}')
    cfg.data_root = root
    return changed


def _dataset_file(cfg: Config, loader: str, path: str) -> Optional[str]:
    """The ``data_root``-joined ``ann_file`` of a dataset of ``loader`` that ``path`` names
    (``path`` ends with it), else None."""
    for _, ds in datasets(cfg, [loader]):
        ann = ds.get('ann_file')
        if isinstance(ann, str) and ann and not osp.isabs(ann):
            if osp.normpath(path).endswith(os.sep + osp.normpath(ann)):
                return osp.join(ds.get('data_root') or '', ann)
    return None


def _paths(cfg: Config, loaders) -> Iterator[Tuple[str, str, str, str]]:
    """``(dotted key, path, the data root it is under, what reads it)``, see dataset_paths."""
    for key, ds in datasets(cfg, loaders):
        root = ds.get('data_root') or ''
        what = f'dataset {ds.get("type")}'
        if root:
            yield f'{key}.data_root', root, root, what
        if ds.get('ann_file'):
            yield f'{key}.ann_file', osp.join(root, ds['ann_file']), root, what
        prefix = ds.get('data_prefix') or {}
        if isinstance(prefix, str):  # mmpretrain's CustomDataset takes the image folder itself
            prefix = dict(img_path=prefix)
        subs = [(f'{key}.data_prefix.{k}', v) for k, v in prefix.items() if isinstance(v, str)]
        if not subs and ds.get('split'):  # mmpretrain's ImageNet: <root>/<split>
            subs = [(f'{key}.split', ds['split'])]
        for k, v in subs:
            if v:
                yield k, osp.join(root, v), root, what
    seen = set()
    for key, ev, _ in evaluators(cfg, loaders):
        if id(ev) not in seen:
            seen.add(id(ev))
            for n in EVALUATOR_FILES:
                if isinstance(ev.get(n), str) and ev[n]:
                    yield f'{key}.{n}', ev[n], cfg.get('data_root') or '', f'{ev.get("type")}'


def dataset_paths(cfg: Config, loaders=LOADERS) -> List[Tuple[str, str]]:
    """``(dotted key, path)`` of every file and folder a run opens before its first iteration:
    each dataset's root, annotation file and data folders (every ``data_prefix`` entry: images,
    masks, VOC's year folder; mmpretrain's ``split`` folder), and the files of the evaluators of
    the given dataloaders (``val_evaluator`` for ``val_dataloader``, single or a list)."""
    return [(k, p) for k, p, _, _ in _paths(cfg, loaders)]


def paths_outside(cfg: Config, root: str) -> List[str]:
    """'key: path' of every dataset and evaluator path of ``cfg`` that is not inside ``root``
    (after ``--data-root root``, such a path would be read from somewhere else)."""
    return [
        f'{key}: {path}'
        for key, path in dataset_paths(cfg)
        if path and '://' not in path and not _under(osp.abspath(path), osp.abspath(root))
    ]


def _missing_voc_year(path: str) -> Optional[str]:
    """'VOC2012' when ``path`` lies in a missing VOC2012 folder whose VOC2007 sibling exists (a
    VOC 07+12 config pointed at a VOC2007-only tree, such as the toy set), else None."""
    parts = osp.normpath(path).split(os.sep)
    if 'VOC2012' not in parts:
        return None
    i = parts.index('VOC2012')
    year_dir = os.sep.join(parts[: i + 1]) or os.sep
    sibling = os.sep.join(parts[:i] + ['VOC2007'])
    return 'VOC2012' if not osp.isdir(year_dir) and osp.isdir(sibling or '.') else None


def check_data(cfg: Config, loaders: Optional[List[str]] = None) -> None:
    """Raise ``FileNotFoundError`` for a missing path of :func:`dataset_paths` (data root,
    annotation file, image or mask folder, an evaluator's annotation file), naming the path, the
    dotted config key that holds it, how to prepare the data and how to point the config
    elsewhere."""
    for key, p, root, what in _paths(cfg, loaders or LOADERS):
        if not p or '://' in p or osp.exists(p):
            continue
        hint = next((v for k, v in DATA_DOCS.items() if k in p), 'docs/user_guides/datasets.md')
        year = _missing_voc_year(p)
        if year:
            raise FileNotFoundError(
                f'dataset path {p!r} does not exist: the folder holds VOC2007 but no {year}. '
                f'It comes from {key} ({what}), a Pascal VOC 07+12 config; the toy set '
                f'(make_toy_voc.py) has only VOC2007, so regenerating it does not help. Use a '
                f'toy config (configs/toy/), or make a miniature VOC 07+12 tree '
                f'(python tools/misc/make_miniature.py --out data/miniature, then --data-root '
                f'data/miniature/VOCdevkit), or download VOC2012 (docs/user_guides/datasets.md)'
            )
        where = ''
        if not osp.isabs(p):
            where = f' (relative to the current folder {os.getcwd()})'
            if root and osp.exists(osp.join(REPO_ROOT, p)):
                where += (
                    f'; it exists under {REPO_ROOT}: run from there or pass '
                    f'--data-root {osp.join(REPO_ROOT, root)}'
                )
        raise FileNotFoundError(
            f'dataset path {p!r} does not exist{where}. It comes from {key} ({what}, data root '
            f'{root!r}). Prepare the data with: {hint}; or point the config at your copy with '
            f"--data-root DIR (sets the data_root of every dataset and moves the evaluators' "
            f'files with it), or --cfg-options {key}=...'
        )
