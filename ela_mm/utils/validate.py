"""Check the attention arguments of a config before anything is built: an unknown variant, a
misspelt argument (``varient=``), a float kernel size, ``stages=True`` or a ``WithAttention``
entry without ``after`` (or with ``afer=``, an unknown attention, a host no library defines) is
reported with the dotted config key that holds it and the fix, instead of a raw ``TypeError``
after the runner has printed the whole config."""

import difflib
import inspect
from typing import Iterator, List, Tuple

#: argument -> what it must be, for the arguments of the attention modules
_INT_ARGS = (
    'kernel_size',
    'conv_groups',
    'num_groups',
    'reduction',
    'min_channels',
    'spatial_kernel',
    'gamma',
    'b',
)
_BOOL_ARGS = ('shared', 'fused', 'lean')
#: options of a plugin / insertion entry that hold stage flags
_STAGE_KEYS = ('stages', 'attention_stages')


def _attention_classes() -> dict:
    import ela_mm  # noqa: F401  (registers the modules)
    from ela_mm.models.attention import CBAM, ECA, ELA, SE, CoordAtt

    classes = {c.__name__: c for c in (ELA, SE, ECA, CoordAtt, CBAM)}
    for key in 'TBSL':
        classes[f'ELA-{key}'] = ELA
        classes[f'ELA_{key}'] = ELA
    return classes


def _walk(d, key: str) -> Iterator[Tuple[str, dict]]:
    """``(dotted key, dict)`` of every dict under ``d`` (lists by index)."""
    if isinstance(d, dict):
        yield key, d
        for k, v in d.items():
            yield from _walk(v, f'{key}.{k}')
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            yield from _walk(v, f'{key}.{i}')


#: keys of one ``WithAttention`` entry, and of ``WithAttention`` itself besides the host's own
_ENTRY_KEYS = ('cfg', 'after', 'name', 'channels')
_EXAMPLE = "dict(cfg=dict(type='ELA', variant='T'), after='stage[2-4].-1')"


def _did_you_mean(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, or ``''``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f' (did you mean {close[0]!r}?)' if close else ''


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _with_attention_problems(where: str, d: dict) -> List[str]:
    """The problems of one ``WithAttention`` config ``d`` at dotted key ``where``."""
    from mmengine.registry import MODELS

    from ela_mm.models.attention.factory import ATTENTIONS
    from ela_mm.models.insertion import _find_host

    problems = []
    host = d.get('host')
    if host is None:
        problems.append(
            f"{where}.host: WithAttention needs host=<the backbone or neck type, e.g. 'CSPNeXt'> "
            f'(its other arguments stay beside it)'
        )
    elif not isinstance(host, (str, dict)) or (isinstance(host, dict) and 'type' not in host):
        problems.append(f'{where}.host: a type name or a config dict with type, got {host!r}')
    else:
        name = host if isinstance(host, str) else host['type']
        if isinstance(name, str):
            try:
                _find_host(name)
            except KeyError as e:
                if 'is in no registry' in str(e):
                    problems.append(f'{where}.host: {e.args[0]}')
    size = d.get('probe_size')
    if size is not None and not (
        (_is_int(size) and size > 0)
        or (isinstance(size, (list, tuple)) and len(size) == 2 and all(_is_int(v) for v in size))
    ):
        problems.append(f'{where}.probe_size: an int or (H, W) in pixels, got {size!r}')
    entries = d.get('attention')
    if not isinstance(entries, (list, tuple)) or not entries:
        return problems + [
            f'{where}.attention: a list of entries such as [{_EXAMPLE}], got {entries!r}'
        ]
    for i, entry in enumerate(entries):
        at = f'{where}.attention.{i}'
        if not isinstance(entry, dict):
            problems.append(f'{at}: an entry is a dict such as {_EXAMPLE}, got {entry!r}')
            continue
        for k in entry:
            if k not in _ENTRY_KEYS:
                problems.append(
                    f'{at}.{k}: an entry takes no key {k!r}{_did_you_mean(k, _ENTRY_KEYS)}; '
                    f'its keys: {", ".join(_ENTRY_KEYS)}'
                )
        for k in ('cfg', 'after'):
            if k not in entry:
                problems.append(f'{at}: no {k!r}; an entry is {_EXAMPLE}')
        after = entry.get('after')
        if after is not None and (not isinstance(after, str) or not after):
            problems.append(
                f"{at}.after: a dotted module path or pattern such as 'stage[2-4].-1', "
                f'got {after!r}'
            )
        cfg = entry.get('cfg')
        if isinstance(cfg, str):
            key = cfg.lower().replace('-', '_')
            if key not in ATTENTIONS:
                problems.append(
                    f'{at}.cfg: unknown attention {cfg!r}{_did_you_mean(key, ATTENTIONS)}; '
                    f'known: {", ".join(sorted(ATTENTIONS))}, or a config dict with type'
                )
        elif isinstance(cfg, dict):
            t = cfg.get('type')
            if t is None:
                problems.append(f"{at}.cfg: no type, e.g. cfg=dict(type='ELA', variant='T')")
            elif isinstance(t, str) and t not in MODELS.module_dict:
                close = difflib.get_close_matches(t, list(_attention_classes()), n=1, cutoff=0.75)
                if close:  # a misspelt attention (another scope's own type is left alone)
                    problems.append(
                        f'{at}.cfg.type: {t!r} is not registered (did you mean {close[0]!r}?)'
                    )
        elif cfg is not None:
            problems.append(f'{at}.cfg: a short name or a config dict with type, got {cfg!r}')
        ch = entry.get('channels')
        if ch is not None and not (
            (_is_int(ch) and ch > 0)
            or (isinstance(ch, dict) and all(_is_int(v) and v > 0 for v in ch.values()))
        ):
            problems.append(f'{at}.channels: an int or {{module path: int}}, got {ch!r}')
    return problems


def attention_problems(model_cfg, key: str = 'model') -> List[str]:
    """One line per wrong argument of an attention module (or of its stage flags) in
    ``model_cfg``: the dotted key, what is wrong and what to write instead."""
    classes = _attention_classes()
    problems = []
    for where, d in _walk(model_cfg, key):
        t = d.get('type')
        if isinstance(t, str) and t.split('.')[-1] == 'WithAttention':
            problems += _with_attention_problems(where, d)
        if isinstance(t, str) and t.split('.')[-1] in classes:
            cls = classes[t.split('.')[-1]]
            params = inspect.signature(cls.__init__).parameters
            known = [p for p in params if p not in ('self', 'in_channels')]
            for arg, value in d.items():
                if arg in ('type', 'in_channels'):
                    continue
                if arg not in params:
                    problems.append(
                        f'{where}.{arg}: {t} takes no argument {arg!r}{_did_you_mean(arg, known)}'
                        f'; its arguments: {", ".join(known)}'
                    )
                elif arg == 'variant':
                    if str(value).upper() not in ('T', 'B', 'S', 'L'):
                        problems.append(
                            f"{where}.variant: unknown ELA variant {value!r}; choose 'T', 'B', "
                            f"'S' or 'L'"
                        )
                elif arg in _INT_ARGS and value is not None:
                    ok = isinstance(value, int) and not isinstance(value, bool)
                    if not ok:
                        problems.append(
                            f'{where}.{arg}: must be an integer, got {value!r} '
                            f'({type(value).__name__})'
                        )
                elif arg in _BOOL_ARGS and not isinstance(value, bool):
                    problems.append(f'{where}.{arg}: must be True or False, got {value!r}')
        for sk in _STAGE_KEYS:
            if sk in d and d[sk] is not None and ('cfg' in d or sk == 'attention_stages'):
                flags = d[sk]
                if not isinstance(flags, (list, tuple)) or not all(
                    isinstance(f, bool) for f in flags
                ):
                    problems.append(
                        f'{where}.{sk}: one True/False flag per stage, e.g. '
                        f'{sk}=(False, True, True, True); got {flags!r}'
                    )
    return problems


def check_attention_args(cfg, config: str = 'the config') -> None:
    """``SystemExit`` naming every wrong attention argument of ``cfg.model`` (see
    :func:`attention_problems`)."""
    problems = attention_problems(cfg.get('model') or {})
    if problems:
        raise SystemExit(
            f'{config}: wrong attention argument(s), nothing was built:\n  '
            + '\n  '.join(problems)
            + '\nFix them in the config or with --cfg-options <key>=<value>.'
        )
