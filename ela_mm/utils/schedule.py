"""Shorten or lengthen a config's training schedule as a whole (``tools/train.py --schedule``).

Changing ``train_cfg.max_epochs`` alone leaves the learning-rate steps, the warm-up, YOLOX's
mode switch and RTMDet's pipeline switch where the long schedule put them; here they all move
with it, in proportion, so that a 12-epoch run of a 300-epoch recipe is that recipe, compressed.
"""

import re
from typing import List, Tuple

from mmengine.config import Config

_SPEC = re.compile(r'^(\d+)(e|it|k)$')
#: hooks whose option marks where a phase of the recipe starts: (option, counted from). Any
#: other hook's integer option named ``*epoch*`` (epoch loops) or ``*iter*`` (iteration loops)
#: is read the same way: from the start, or from the end when it is named ``num_last_*``.
HOOK_EPOCHS = {
    # mmdet switches before the 0-based epoch e with e + 1 >= max_epochs - num_last_epochs:
    # the first phase needs num_last_epochs <= max_epochs - 2
    'YOLOXModeSwitchHook': ('num_last_epochs', 'end'),
    'PipelineSwitchHook': ('switch_epoch', 'start'),  # switches before the 0-based epoch
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


def _point(value: int, old: int, n: int, factor: float) -> int:
    """A point of an ``old``-long schedule in an ``n``-long one: scaled, and a point strictly
    inside the old schedule (a phase before it and one after it) stays strictly inside the new
    one while ``n`` allows (``n >= 2``), so that both phases still happen."""
    new = min(_scaled(value, factor), n)
    if 1 <= value <= old - 1 and n >= 2:
        new = min(max(new, 1), n - 1)
    return new


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
            # a period that spans its scheduler (a cosine with T_max = end - begin ends at
            # eta_min) keeps spanning it after the move, whatever the rounding of the points
            spans = s.get('T_max') == s.get('end', old) - s.get('begin', 0)
            for k in ('begin', 'end', 'T_max'):  # an epoch loop) it does not scale: kept
                if k in s and isinstance(s[k], int):
                    if k != 'T_max':
                        new = _point(s[k], old, n, factor)
                    elif spans:
                        new = s.get('end', n) - s.get('begin', 0)
                    else:
                        new = _scaled(s[k], factor)
                    changes.append(f'param_scheduler.{i}.{k}: {s[k]} -> {new}')
                    s[k] = new
            if 'milestones' in s:
                new = [_point(m, old, n, factor) for m in s['milestones']]
                changes.append(f'param_scheduler.{i}.milestones: {s["milestones"]} -> {new}')
                s['milestones'] = new
            if s.get('begin', 0) >= s.get('end', n + 1):
                changes.append(f'param_scheduler.{i} ({s["type"]}): dropped, no {unit} left')
                continue
        kept.append(s)
    if schedulers:
        cfg.param_scheduler = kept[0] if single and kept else kept
    if cfg.train_cfg.get('dynamic_intervals'):  # [(epoch, interval), ...]: validate more often
        new = [(_point(m, old, n, factor), i) for m, i in cfg.train_cfg.dynamic_intervals]
        changes.append(f'train_cfg.dynamic_intervals: {cfg.train_cfg.dynamic_intervals} -> {new}')
        cfg.train_cfg.dynamic_intervals = new
    changes += _scale_hooks(cfg, old, n, factor, unit)
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt and 'interval' in ckpt and ckpt['interval'] > 0:
        new = min(_scaled(ckpt['interval'], factor), n)
        changes.append(f'default_hooks.checkpoint.interval: {ckpt["interval"]} -> {new}')
        ckpt['interval'] = new
    return changes


def _hook_points(h: dict, unit: str) -> List[Tuple[str, str]]:
    """``(option, 'start' | 'end')`` of the options of hook config ``h`` that mark a point of an
    ``unit``-long schedule (see :data:`HOOK_EPOCHS`)."""
    known = HOOK_EPOCHS.get(str(h.get('type')).split('.')[-1])
    if known:
        return [known] if unit == 'epochs' and known[0] in h else []
    word = 'epoch' if unit == 'epochs' else 'iter'
    return [
        (k, 'end' if k.startswith('num_last') else 'start')
        for k, v in h.items()
        if word in k and isinstance(v, int) and not isinstance(v, bool)
    ]


def _scale_hooks(cfg: Config, old: int, n: int, factor: float, unit: str) -> List[str]:
    """Move the phase switches of ``custom_hooks`` (YOLOX's mode switch, RTMDet's pipeline
    switch, EMA's start, ...) so that every phase of the recipe still happens in ``n``."""
    changes = []
    for h in cfg.get('custom_hooks') or []:
        for k, frm in _hook_points(h, unit):
            v = h[k]
            if frm == 'start':
                new = _point(v, old, n, factor)
                ok = not (1 <= v <= old - 1) or 1 <= new <= n - 1
            else:  # the last v units
                new = _point(v, old, n, factor) if 1 <= v <= old - 1 else min(v, n)
                if h['type'].split('.')[-1] == 'YOLOXModeSwitchHook':  # see HOOK_EPOCHS
                    new = max(min(new, n - 2), 0)
                    ok = v > old - 2 or n >= 2
                else:
                    ok = not (1 <= v <= old - 1) or 1 <= new <= n - 1
            changes.append(f'{h["type"]}.{k}: {v} -> {new}')
            if not ok:
                changes.append(
                    f'WARNING: {h["type"]}: {n} {unit} are too few for both phases of the '
                    f'recipe ({k}={v} of {old}): only one of them runs'
                )
            h[k] = new
    return changes
