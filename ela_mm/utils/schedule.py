"""Shorten or lengthen a config's training schedule as a whole (``tools/train.py --schedule``).

Changing ``train_cfg.max_epochs`` alone leaves the learning-rate steps, the warm-up, YOLOX's
mode switch and RTMDet's pipeline switch where the long schedule put them; here they all move
with it, in proportion, so that a 12-epoch run of a 300-epoch recipe is that recipe, compressed.
"""

import re
from typing import List, Tuple

from mmengine.config import Config

_SPEC = re.compile(r'^(\d+)(e|it|k)$')
#: hooks whose epoch-valued option marks a point of the schedule
HOOK_EPOCHS = {
    'YOLOXModeSwitchHook': 'num_last_epochs',  # counted from the end
    'PipelineSwitchHook': 'switch_epoch',  # counted from the start
}


def parse_schedule(spec: str) -> Tuple[int, str]:
    """'12e' -> (12, 'epochs'); '300it' -> (300, 'iters'); '20k' -> (20000, 'iters')."""
    m = _SPEC.match(spec.strip().lower())
    if m is None or int(m[1]) == 0:
        raise ValueError(
            f'--schedule {spec!r}: expected a positive length with a unit, e.g. 12e (epochs), '
            f'300it or 20k (iterations)'
        )
    n, unit = int(m[1]), m[2]
    return (n, 'epochs') if unit == 'e' else (n * 1000 if unit == 'k' else n, 'iters')


def _scaled(value: int, factor: float) -> int:
    """``value`` scaled and rounded, at least 1 where it was at least 1."""
    return max(round(value * factor), 1 if value >= 1 else 0)


def scale_schedule(cfg: Config, spec: str) -> List[str]:
    """Set the training length of ``cfg`` to ``spec`` (see :func:`parse_schedule`) and move
    every point of the schedule with it. Returns what changed, one 'key: old -> new' line each.

    The unit must be the loop's: epochs for an epoch-based loop, iterations for an
    iteration-based one (an error names which one the config has)."""
    n, unit = parse_schedule(spec)
    key = 'max_epochs' if unit == 'epochs' else 'max_iters'
    old = cfg.train_cfg.get(key)
    if old is None:
        have = 'epochs' if 'max_epochs' in cfg.train_cfg else 'iterations'
        raise ValueError(
            f'--schedule {spec}: this config trains for a number of {have}; give the length in '
            f'{have} (e.g. {"12e" if have == "epochs" else "300it"})'
        )
    factor = n / old
    changes = [f'train_cfg.{key}: {old} -> {n}']
    cfg.train_cfg[key] = n
    if 'val_interval' in cfg.train_cfg:
        v = cfg.train_cfg.val_interval
        cfg.train_cfg.val_interval = min(_scaled(v, factor), n)
        changes.append(f'train_cfg.val_interval: {v} -> {cfg.train_cfg.val_interval}')
    schedulers = cfg.get('param_scheduler') or []
    single = not isinstance(schedulers, list)
    kept = []
    for i, s in enumerate([schedulers] if single else schedulers):
        if s.get('by_epoch', True) == (unit == 'epochs'):  # else (e.g. an iteration warm-up in
            for k in ('begin', 'end', 'T_max'):  # an epoch loop) it does not scale: kept
                if k in s and isinstance(s[k], int):
                    new = _scaled(s[k], factor) if k == 'T_max' else min(_scaled(s[k], factor), n)
                    changes.append(f'param_scheduler.{i}.{k}: {s[k]} -> {new}')
                    s[k] = new
            if 'milestones' in s:
                new = [min(_scaled(m, factor), n) for m in s['milestones']]
                changes.append(f'param_scheduler.{i}.milestones: {s["milestones"]} -> {new}')
                s['milestones'] = new
            if s.get('begin', 0) >= s.get('end', n + 1):
                changes.append(f'param_scheduler.{i} ({s["type"]}): dropped, no {unit} left')
                continue
        kept.append(s)
    if schedulers:
        cfg.param_scheduler = kept[0] if single and kept else kept
    for h in cfg.get('custom_hooks') or []:
        k = HOOK_EPOCHS.get(str(h.get('type')).split('.')[-1])
        if k and k in h:
            new = min(_scaled(h[k], factor), n)
            changes.append(f'{h["type"]}.{k}: {h[k]} -> {new}')
            h[k] = new
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt and 'interval' in ckpt and ckpt['interval'] > 0:
        new = min(_scaled(ckpt['interval'], factor), n)
        changes.append(f'default_hooks.checkpoint.interval: {ckpt["interval"]} -> {new}')
        ckpt['interval'] = new
    return changes
