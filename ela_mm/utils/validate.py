"""Check the attention arguments of a config before anything is built: an unknown variant, a
misspelt argument (``varient=``), a float kernel size or ``stages=True`` is reported with the
dotted config key that holds it and the fix, instead of a raw ``TypeError`` after the runner has
printed the whole config."""

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


def attention_problems(model_cfg, key: str = 'model') -> List[str]:
    """One line per wrong argument of an attention module (or of its stage flags) in
    ``model_cfg``: the dotted key, what is wrong and what to write instead."""
    classes = _attention_classes()
    problems = []
    for where, d in _walk(model_cfg, key):
        t = d.get('type')
        if isinstance(t, str) and t.split('.')[-1] in classes:
            cls = classes[t.split('.')[-1]]
            params = inspect.signature(cls.__init__).parameters
            known = [p for p in params if p not in ('self', 'in_channels')]
            for arg, value in d.items():
                if arg in ('type', 'in_channels'):
                    continue
                if arg not in params:
                    close = difflib.get_close_matches(arg, known, n=1)
                    problems.append(
                        f'{where}.{arg}: {t} takes no argument {arg!r}'
                        + (f' (did you mean {close[0]!r}?)' if close else '')
                        + f'; its arguments: {", ".join(known)}'
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
