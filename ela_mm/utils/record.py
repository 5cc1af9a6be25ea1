"""What a training run records of itself: ``<work_dir>/run.json`` (written by tools/train.py),
with :func:`config_hash` of what the resolved config computes and :func:`data_stamp` of the toy
data it reads. ``ela_mm.comparison.catalogue`` compares a published result's record with the
config as it is now (``result_status``)."""

import hashlib
import json
import os
import os.path as osp
from typing import Optional

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
    from ela_mm.datasets.toy_voc import CROPS_KEYS, read_stamp

    root = cfg.get('data_root') if hasattr(cfg, 'get') else None
    if not isinstance(root, str):
        return None
    for folder in (root, osp.dirname(osp.normpath(root))):  # data/toy_voc or .../VOC2007
        stamp = read_stamp(folder)
        if stamp is not None:
            if osp.basename(osp.normpath(root)) != 'classification':  # reads no crops
                for key in CROPS_KEYS:
                    stamp.pop(key, None)
            return stamp
    return None


RUN_RECORD = 'run.json'


def write_run_record(cfg, args) -> dict:
    """``<work_dir>/run.json``: what a training run computes (``config_hash``), on which data
    (the toy set's stamp), with which seed, schedule and options; tools/collect_grid.py copies
    it into the metafiles, where it tells a current result from a stale one."""
    record = dict(
        config=args.config,
        config_hash=config_hash(cfg),
        data=data_stamp(cfg),
        seed=cfg.get('randomness', {}).get('seed'),
        schedule=getattr(args, 'schedule', None),
        cfg_options=args.cfg_options or {},
        data_root=getattr(args, 'data_root', None),
    )
    os.makedirs(cfg.work_dir, exist_ok=True)
    with open(osp.join(cfg.work_dir, RUN_RECORD), 'w') as f:
        json.dump(record, f, indent=2, default=repr)
    return record


def read_run_record(work_dir: str) -> dict:
    """``<work_dir>/run.json`` as :func:`write_run_record` wrote it; ``{}`` when there is none."""
    path = osp.join(work_dir, RUN_RECORD)
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)
