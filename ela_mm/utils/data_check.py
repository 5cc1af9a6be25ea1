"""Fail early, naming the missing folder and how to prepare it, instead of deep inside a dataset
class."""

import os.path as osp
from typing import Iterator, List, Optional

from mmengine.config import Config

DATA_DOCS = {
    'toy_voc': 'python tools/misc/make_toy_voc.py  (or: make demo)',
    'coco': 'README.md, section "Datasets" (COCO 2017)',
    'VOCdevkit': 'README.md, section "Datasets" (Pascal VOC 07+12 / VOC 2012 aug)',
    'imagenet': 'README.md, section "Datasets" (ImageNet-1k)',
}


def _datasets(cfg) -> Iterator[dict]:
    """Every dataset config under the config's dataloaders, wrappers included."""

    def walk(d):
        if not isinstance(d, dict):
            return
        if 'datasets' in d:
            for x in d['datasets']:
                yield from walk(x)
        elif 'dataset' in d:
            yield from walk(d['dataset'])
        else:
            yield d

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            yield from walk(loader.get('dataset'))


def check_data(cfg: Config, loaders: Optional[List[str]] = None) -> None:
    """Fail early, naming the missing folder and how to prepare it, instead of deep inside a
    dataset class."""
    for ds in _datasets(
        cfg if loaders is None else Config({k: cfg[k] for k in loaders if cfg.get(k)})
    ):
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        paths = [root] if root else []
        if ds.get('ann_file'):
            paths.append(osp.join(root, ds['ann_file']))
        sub = prefix.get('sub_data_root') or prefix.get('img_path') or prefix.get('img')
        if sub:
            paths.append(osp.join(root, sub))
        for p in paths:
            if p and '://' not in p and not osp.exists(p):
                hint = next(
                    (v for k, v in DATA_DOCS.items() if k in p), 'README.md, section "Datasets"'
                )
                raise FileNotFoundError(
                    f'dataset path {p!r} does not exist (dataset {ds.get("type")}, '
                    f'data_root {root!r}). Prepare it with: {hint}; or point the config at '
                    f'your copy with --cfg-options, e.g. train_dataloader.dataset.data_root=...'
                )
