"""The shipped configs as the model index describes them, and the grammar of their names.

Config names follow OpenMMLab's convention, with the attention as a suffix of the model part::

    {model}[-{attention}]_{gpus}x{batch}[-{schedule}]_{dataset}[-{input size}]
    yolox_nano-ela-t_8xb8-300e_voc0712      deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512
    resnet50-se_8xb32_in1k                   mobilenet-v2_8xb32_in1k (the plain baseline)

:func:`parse_config_name` is the one parser of that grammar (the metafile tool and the comparison
tools use it); the attention a config really builds is read from its model and written into the
metafiles' ``Attention`` by ``tools/misc/metafile.py``.

A measured result records what it was measured with (``Config hash``: :func:`config_hash` of the
config as it ran; ``Data``: the toy set's stamp where the data is generated);
:func:`result_status` compares that with the config as it is now, so that a result of an
earlier recipe is never shown as current.
"""

import hashlib
import json
import os.path as osp
import re
from typing import Dict, List, NamedTuple, Optional

import yaml

#: dataset part of a config name -> the dataset's name in metafiles and tables
DATASETS: Dict[str, str] = {
    'coco': 'COCO',
    'voc0712': 'Pascal VOC 07+12',
    'voc12aug': 'Pascal VOC 2012 aug',
    'in1k': 'ImageNet-1k',
    'toyvoc': 'toy VOC (generated)',
    'toycls': 'toy object crops (generated)',
}
#: attention suffix of a config name -> its label in metafiles and tables
ATTENTION_SUFFIXES: Dict[str, str] = {
    'ela-t': 'ELA-T',
    'ela-b': 'ELA-B',
    'ela-s': 'ELA-S',
    'ela-l': 'ELA-L',
    'se': 'SE',
    'eca': 'ECA',
    'ca': 'CA',
    'cbam': 'CBAM',
}
#: registered type -> label (``{variant}``: the ELA variant)
ATTENTION_LABELS: Dict[str, str] = {
    'ELA': 'ELA-{variant}',
    'SE': 'SE',
    'ECA': 'ECA',
    'CoordAtt': 'CA',
    'CBAM': 'CBAM',
}

_NAME = re.compile(
    r'^(?P<model>.+?)(?:-(?P<attention>'
    + '|'.join(sorted(ATTENTION_SUFFIXES, key=len, reverse=True))
    + r'))?_(?P<batch>\d+xb\d+)'
    r'(?:-(?P<schedule>[^_]+))?_(?P<dataset>[a-z0-9]+)(?:-(?P<size>[^_]+))?$'
)


class ConfigName(NamedTuple):
    model: str  # e.g. 'yolox_nano', 'deeplabv3_r50-d8'
    attention: Optional[str]  # label ('ELA-T', 'SE', ...) or None for the plain model
    batch: str  # '8xb8'
    schedule: Optional[str]  # '300e', '20k', or None (the upstream default)
    dataset: str  # key of DATASETS
    size: Optional[str]  # '512x512' or None

    @property
    def baseline(self) -> str:
        """The name of the plain model of the same recipe."""
        sched = f'-{self.schedule}' if self.schedule else ''
        size = f'-{self.size}' if self.size else ''
        return f'{self.model}_{self.batch}{sched}_{self.dataset}{size}'


def parse_config_name(name: str) -> ConfigName:
    """Split a config name (with or without ``.py`` and folders) by the grammar above."""
    base = osp.splitext(osp.basename(name))[0]
    m = _NAME.match(base)
    if m is None or m['dataset'] not in DATASETS:
        raise ValueError(
            f'config name {base!r} does not follow {{model}}[-{{attention}}]_{{gpus}}x{{batch}}'
            f'[-{{schedule}}]_{{dataset}}[-{{size}}] with a dataset in {sorted(DATASETS)}'
        )
    att = m['attention']
    return ConfigName(
        m['model'],
        ATTENTION_SUFFIXES[att] if att else None,
        m['batch'],
        m['schedule'],
        m['dataset'],
        m['size'],
    )


def attention_label(cfgs: List[dict]) -> str:
    """'ELA-T', 'SE', ..., joined by ', ' for several modules; 'none' for none."""
    if not cfgs:
        return 'none'
    return ', '.join(
        ATTENTION_LABELS[c['type']].format(variant=str(c.get('variant', 'B')).upper()) for c in cfgs
    )


def load_model_index(root: str) -> List[dict]:
    """Every model of ``<root>/model-index.yml``: its metafile entry plus ``family`` (the config
    folder), ``path`` (absolute config path) and ``parsed`` (:class:`ConfigName`)."""
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for meta in index['Import']:
        with open(osp.join(root, meta)) as f:
            for m in yaml.safe_load(f)['Models']:
                models.append(
                    dict(
                        m,
                        family=osp.basename(osp.dirname(meta)),
                        path=osp.normpath(osp.join(root, m['Config'])),
                        parsed=parse_config_name(m['Name']),
                    )
                )
    return models


def comparison_rows(root: str, baseline: str) -> List[dict]:
    """The plain baseline config named ``baseline`` and every config of the model index that
    is the same recipe with an attention module, baseline first."""
    models = load_model_index(root)
    order = [None] + list(ATTENTION_SUFFIXES.values())  # plain, ELA-T/B/S/L, SE, ECA, CA, CBAM
    rows = [m for m in models if m['parsed'].baseline == baseline]
    rows.sort(key=lambda m: order.index(m['parsed'].attention))
    if not rows or rows[0]['parsed'].attention is not None:
        raise ValueError(f'no plain baseline {baseline!r} in the model index')
    return rows


#: config keys that say where and how a run is carried out, not what it computes (the seed is
#: recorded apart, with the results)
RUN_ONLY_KEYS = (
    'work_dir',
    'launcher',
    'randomness',
    'resume',
    'load_from',
    'env_cfg',
    'model_wrapper_cfg',
    'log_level',
    'log_processor',
    'visualizer',
)


def config_hash(cfg) -> str:
    """A short hash of what a resolved config (an mmengine ``Config`` or a dict) computes: its
    every value except :data:`RUN_ONLY_KEYS` and the logger's and checkpointer's intervals,
    canonically serialised. Any change of the config file or of a file it inherits from that
    changes the model, the data, the schedule or the evaluation changes it."""
    d = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    d = {k: v for k, v in d.items() if k not in RUN_ONLY_KEYS}
    hooks = dict(d.get('default_hooks') or {})
    for k in ('logger', 'checkpoint', 'visualization', 'timer'):
        hooks.pop(k, None)
    d['default_hooks'] = hooks
    text = json.dumps(d, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def data_stamp(cfg) -> Optional[dict]:
    """The toy generator's stamp of the data a config reads (``None`` for other data)."""
    from ela_mm.datasets.toy_voc import read_stamp

    root = cfg.get('data_root') if hasattr(cfg, 'get') else None
    if not isinstance(root, str):
        return None
    for folder in (root, osp.dirname(osp.normpath(root))):  # data/toy_voc or .../VOC2007
        stamp = read_stamp(folder)
        if stamp is not None:
            if osp.basename(osp.normpath(root)) != 'classification':  # reads no crops
                stamp.pop('crops_version', None)
            return stamp
    return None


def expected_hash(entry: dict, schedule: Optional[str] = None) -> str:
    """:func:`config_hash` of a model-index entry's config as it is now, with ``schedule``
    (``tools/train.py --schedule``) applied where the result was measured with one."""
    from .config import load_config
    from .schedule import scale_schedule

    cfg = load_config(entry['path'])
    if schedule:
        scale_schedule(cfg, schedule)
    return config_hash(cfg)


def result_status(entry: dict) -> str:
    """'not measured', 'current', or 'stale: <why>' for a model-index entry's first result: stale
    when the config (or what it inherits) has changed since the result was measured, when the
    result predates config hashes, or when it was measured on another version of the toy
    data than the one generated now."""
    if entry['Metadata'].get('Status') != 'measured':
        return 'not measured'
    training = entry['Results'][0].get('Training', {})
    recorded = training.get('Config hash')
    if not recorded:
        return 'stale: measured with an earlier recipe (no config hash recorded)'
    schedule = training.get('Schedule')
    schedule = None if schedule in (None, 'as in the config') else schedule
    if recorded != expected_hash(entry, schedule):
        return f'stale: the config changed since it was measured (hash {recorded})'
    data = training.get('Data')
    if data is not None:
        from ela_mm.datasets.toy_voc import CROPS_VERSION, GENERATOR_VERSION

        if data.get('generator_version') != GENERATOR_VERSION:
            return 'stale: measured on an earlier version of the toy data'
        if data.get('crops_version', CROPS_VERSION) != CROPS_VERSION:  # recorded where read
            return 'stale: measured on an earlier version of the toy classification crops'
    return 'current'
