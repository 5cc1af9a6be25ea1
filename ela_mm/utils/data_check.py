"""Datasets of a config: where their paths live (as dotted keys), pointing them at your copy
(``--data-root``), and failing early, naming the missing path and the fix, instead of deep
inside a dataset class."""

import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

from mmengine.config import Config

DATA_DOCS = {
    'toy_voc': 'python tools/misc/make_toy_voc.py  (or: make demo)',
    'coco': 'README.md, section "Datasets" (COCO 2017)',
    'VOCdevkit': 'README.md, section "Datasets" (Pascal VOC 07+12 / VOC 2012 aug)',
    'imagenet': 'README.md, section "Datasets" (ImageNet-1k)',
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


def set_data_root(cfg: Config, root: str) -> List[str]:
    """Point every dataset of ``cfg`` at ``root``; return the dotted keys it set.

    A dataset whose ``data_root`` starts with the config's own ``data_root`` variable keeps the
    rest of its path (``data/toy_voc/VOC2007`` -> ``<root>/VOC2007`` when the config's
    ``data_root`` is ``data/toy_voc``); datasets without one get ``root`` itself."""
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
    cfg.data_root = root
    return changed


def check_data(cfg: Config, loaders: Optional[List[str]] = None) -> None:
    """Raise ``FileNotFoundError`` for a missing dataset path (data root, annotation file, image
    folder), naming the path, the dotted config key that holds it, how to prepare the data and
    how to point the config elsewhere."""
    for key, ds in datasets(cfg, loaders or LOADERS):
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        paths = [root] if root else []
        if ds.get('ann_file'):
            paths.append(osp.join(root, ds['ann_file']))
        if isinstance(prefix, str):  # mmpretrain's CustomDataset takes the image folder itself
            prefix = dict(img_path=prefix)
        sub = (
            prefix.get('sub_data_root')
            or prefix.get('img_path')
            or prefix.get('img')
            or ds.get('split')  # mmpretrain's ImageNet: <root>/<split>
        )
        if sub:
            paths.append(osp.join(root, sub))
        for p in paths:
            if not p or '://' in p or osp.exists(p):
                continue
            hint = next((v for k, v in DATA_DOCS.items() if k in p), 'README.md, "Datasets"')
            where = ''
            if not osp.isabs(p):
                where = f' (relative to the current folder {os.getcwd()})'
                if osp.exists(osp.join(REPO_ROOT, p)):
                    where += (
                        f'; it exists under {REPO_ROOT}: run from there or pass '
                        f'--data-root {osp.join(REPO_ROOT, root)}'
                    )
            raise FileNotFoundError(
                f'dataset path {p!r} does not exist{where}. It comes from {key}.data_root '
                f'{root!r} (dataset {ds.get("type")}). Prepare the data with: {hint}; or '
                f'point the config at your copy with --data-root DIR (sets the data_root of '
                f'every dataset), or --cfg-options {key}.data_root=DIR'
            )
