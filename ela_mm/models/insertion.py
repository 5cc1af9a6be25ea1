"""Attention anywhere: insert attention modules after chosen submodules of any backbone or neck.

mmdet, mmseg and mmpretrain backbones mostly take no plugins (mmdet's ResNet is the exception),
so ``WithAttention`` builds the host model unchanged and then inserts the modules::

    model = dict(backbone=dict(
        type='WithAttention',
        host='CSPNeXt',            # the backbone's own type; its other arguments stay as they are
        attention=[dict(cfg=dict(type='ELA', variant='T'), after='stage[2-4].-1')]))

``after`` is a dotted module path; each part is a name of a child module or a pattern:
``*``, ``?`` and ``[2-4]`` as in shell globs, and ``-1``, ``-2``, ... for the last, second-to-last
child. ``stage[2-4].-1`` is the last layer of stages 2 to 4; ``layer[2-4].*`` every block of
stages 2-4; ``layer*.*.bn3`` the last BatchNorm of every ResNet Bottleneck (where mmdet's
``after_conv3`` plugins and SE/ECA/CA/ELA sit, before the residual addition).

**The host's structure, as its code sees it, does not change.** Each module is applied by a
forward hook on its target (it replaces the target's output), wherever and however the host
calls the target. It is *stored* next to its target, under the keys earlier versions used:
``<parent>.<name>.*`` (``name``: the module's ``_abbr_`` or the one given, with the target's name
appended when several targets share a parent), or ``<target>.<name>.*`` when the parent is a
``ModuleList``/``ModuleDict``. A ``Sequential``/``ModuleList``/``ModuleDict`` that stores one gets
a subclass of its own class (same name) whose ``len``, iteration, indexing, slicing, ``keys`` and
``forward`` see only the host's own members; ``_modules``, ``children()``, ``state_dict()`` and
``parameters()`` include the inserted module (that is how ``.to()``, ``train()``, checkpoints
and optimizers reach it). So ``out_indices``, ``frozen_stages``, ``norm_eval`` and positional
code behave as in the plain host, and an upstream checkpoint loads with exactly the attention
keys missing.

Freezing: the host's own parameters are frozen exactly as in the plain host. Inserted modules
are new (no pretrained values), so the host's ``train()`` (where ``frozen_stages`` and
``norm_eval`` act) never changes their ``requires_grad``, and they follow ``train()``/``eval()``
of the model, not a frozen stage's ``eval()``: the host's ``train`` is wrapped (an instance
attribute; the class stays the host's own).

Channels are measured: the host runs once on a small input (64 px, then 128, 224, 320, or the
``probe_size`` given); when it cannot run, the build stops with the host's error unless the
entry declares ``channels``. A target inside a branch that re-parameterisation
(``switch_to_deploy``) folds away is refused.
"""

import copy
import difflib
import fnmatch
import importlib
import math
import operator
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.registry import MODELS, DefaultScope
from torch import Tensor

from .attention import attention_cfg

__all__ = ['WithAttention', 'insert_attention', 'match_modules']

_INDEX = re.compile(r'^-\d+$')
#: the libraries whose registries a host name is looked up in when no scope names one
LIBRARIES = ('mmdet', 'mmseg', 'mmpretrain')
#: input sizes the channel probe tries, in order
PROBE_SIZES = (64, 128, 224, 320)
#: methods that fold a block's branches into one layer (RepVGG, MobileOne, ...)
_REPARAM = ('switch_to_deploy', 'reparameterize', 'reparameterise')


# ------------------------------------------------------------------ containers that hide
def _inserted(module: nn.Module) -> Tuple[str, ...]:
    """Names of the inserted modules ``module`` stores (not the host's own members)."""
    return module.__dict__.get('_ela_inserted', ())


class _HidesInserted:
    """Mixin for a host container that stores inserted modules: the container protocol (len,
    iteration, indexing, keys) sees only the host's own members."""

    def _own(self) -> List[Tuple[str, nn.Module]]:
        hidden = _inserted(self)
        return [(k, m) for k, m in self._modules.items() if k not in hidden]

    def _plain_class(self) -> type:
        return self.__dict__['_ela_plain_class']

    def __reduce_ex__(self, protocol):  # pickle / deepcopy: rebuild the subclass from the base
        return _new_hiding, (self._plain_class(),), self.__dict__


class _HidingSequence(_HidesInserted):
    """``Sequential`` / ``ModuleList``: positions count the host's own members only."""

    def __len__(self) -> int:
        return len(self._own())

    def __iter__(self):
        return iter([m for _, m in self._own()])

    def __getitem__(self, idx):
        own = self._own()
        if isinstance(idx, slice):
            if isinstance(self, nn.Sequential):
                return self._plain_class()(OrderedDict(own[idx]))
            return self._plain_class()([m for _, m in own[idx]])
        return own[operator.index(idx)][1]

    def __setitem__(self, idx, module) -> None:
        setattr(self, self._own()[operator.index(idx)][0], module)

    def __delitem__(self, idx) -> None:
        own = self._own()
        for key, _ in own[idx] if isinstance(idx, slice) else [own[operator.index(idx)]]:
            delattr(self, key)

    def __dir__(self):
        return [k for k in super().__dir__() if k not in _inserted(self)]


class _HidingDict(_HidesInserted):
    """``ModuleDict``: keys, values, items, len and ``in`` see the host's own members only."""

    def __len__(self) -> int:
        return len(self._own())

    def __iter__(self):
        return iter([k for k, _ in self._own()])

    def __contains__(self, key) -> bool:
        return key in self._modules and key not in _inserted(self)

    def keys(self):
        return [k for k, _ in self._own()]

    def values(self):
        return [m for _, m in self._own()]

    def items(self):
        return self._own()


_HIDING: Dict[type, type] = {}


def _hiding_class(cls: type) -> type:
    """The subclass of container class ``cls`` that hides inserted members (same name)."""
    if cls not in _HIDING:
        mixin = _HidingDict if issubclass(cls, nn.ModuleDict) else _HidingSequence
        _HIDING[cls] = type(
            cls.__name__,
            (mixin, cls),
            {'__module__': cls.__module__, '__qualname__': cls.__qualname__},
        )
    return _HIDING[cls]


def _new_hiding(plain: type) -> nn.Module:
    cls = _hiding_class(plain)
    return cls.__new__(cls)


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _store(holder: nn.Module, name: str, module: nn.Module, after: Optional[str]) -> None:
    """Register ``module`` as ``holder.<name>`` (right after the member ``after`` in a
    ``Sequential``, where earlier versions spliced it, so key order stays), marked as
    inserted; a container holder gets the hiding subclass of its class."""
    if isinstance(holder, _CONTAINERS) and not isinstance(holder, _HidesInserted):
        holder.__dict__['_ela_plain_class'] = type(holder)
        holder.__class__ = _hiding_class(type(holder))
    holder.__dict__['_ela_inserted'] = _inserted(holder) + (name,)
    items = list(holder._modules.items())
    keys = [k for k, _ in items]
    at = keys.index(after) + 1 if isinstance(holder, nn.Sequential) and after in keys else None
    if at is None:
        holder.add_module(name, module)
    else:
        holder._modules = OrderedDict(items[:at] + [(name, module)] + items[at:])


def _host_children(module: nn.Module) -> List[Tuple[str, nn.Module]]:
    """The host's own children of ``module`` (inserted modules left out)."""
    hidden = _inserted(module)
    return [(n, m) for n, m in module._modules.items() if m is not None and n not in hidden]


def _host_modules(root: nn.Module, prefix: str = ''):
    """``named_modules()`` of the host without the inserted modules."""
    yield prefix, root
    for n, m in _host_children(root):
        yield from _host_modules(m, f'{prefix}.{n}' if prefix else n)


# ------------------------------------------------------------------ patterns
def _part_score(part: str, name: str) -> float:
    if fnmatch.fnmatchcase(name, part) or (_INDEX.match(part) and name.isdigit()):
        return 1.0
    plain = part.replace('*', '').replace('?', '')
    ratio = difflib.SequenceMatcher(None, plain, name).ratio()
    if plain and (name.startswith(plain) or plain.startswith(name)):
        ratio = max(ratio, 0.75)
    elif plain and plain in name:
        ratio = max(ratio, 0.6)
    return ratio


def _closest(root: nn.Module, pattern: str, n: int = 6) -> List[str]:
    """Module paths (as patterns where the pattern's part matched) ranked by the similarity of
    every path part to the pattern's, then by the whole string."""
    parts = pattern.split('.')
    scored: Dict[str, float] = {}
    for path, _ in _host_modules(root):
        if not path:
            continue
        names = path.split('.')
        whole = 0.9 * difflib.SequenceMatcher(None, pattern, path).ratio()
        if len(names) == len(parts):
            per = [_part_score(p, q) for p, q in zip(parts, names)]
            score = max(sum(per) / len(per), whole)
            shown = '.'.join(p if s == 1.0 else q for p, q, s in zip(parts, names, per))
        else:
            score, shown = whole, path
        scored[shown] = max(scored.get(shown, 0.0), score)
    best = sorted(scored, key=lambda k: -scored[k])
    return [k for k in best if scored[k] >= 0.4][:n]


def match_modules(root: nn.Module, pattern: str) -> List[str]:
    """Paths of the submodules of ``root`` that ``pattern`` names (see the module docstring),
    in the order of ``root.named_modules()``; modules inserted earlier are not matched. Raises a
    ``ValueError`` that lists the closest module names (ranked by every path part) when nothing
    matches."""
    level: List[Tuple[str, nn.Module]] = [('', root)]
    for part in pattern.split('.'):
        nxt = []
        for path, mod in level:
            kids = _host_children(mod)
            if _INDEX.match(part):
                i = int(part)
                chosen = [kids[i]] if len(kids) >= -i else []
            else:
                chosen = [(n, m) for n, m in kids if fnmatch.fnmatchcase(n, part)]
            nxt += [(f'{path}.{n}' if path else n, m) for n, m in chosen]
        level = nxt
    if not level:
        close = _closest(root, pattern) or [n for n, _ in _host_children(root)][:10]
        raise ValueError(
            f'no module of {type(root).__name__} matches {pattern!r}; closest names: '
            f'{", ".join(close)}. Patterns are dotted module paths with *, ?, [2-4] and -1 '
            f'(last child): see print(model) or [n for n, _ in model.named_modules()]'
        )
    order = {n: i for i, (n, _) in enumerate(root.named_modules())}
    return sorted({p for p, _ in level}, key=order.__getitem__)


# ------------------------------------------------------------------ the channel probe
def _size2d(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _probe_inputs(host: nn.Module, size: Union[int, Sequence[int]] = 64) -> List[tuple]:
    """Candidate inputs to run ``host`` once, in order: feature maps for a neck that declares
    its input widths (an ``in_channels`` list), an RGB image batch, an image batch with the
    host's ``in_channels``."""
    h, w = _size2d(size)
    in_ch = getattr(host, 'in_channels', None)
    cands = []
    if isinstance(in_ch, (list, tuple)) and all(isinstance(c, int) for c in in_ch):
        cands.append(
            (
                [
                    torch.zeros(1, c, max(h // 2**i, 1), max(w // 2**i, 1))
                    for i, c in enumerate(in_ch)
                ],
            )
        )
    cands.append((torch.zeros(1, 3, h, w),))
    if isinstance(in_ch, int) and in_ch != 3:
        cands.append((torch.zeros(1, in_ch, h, w),))
    return cands


def _describe(out) -> str:
    if isinstance(out, Tensor):
        return f'a tensor of shape {tuple(out.shape)}'
    return f'a {type(out).__name__}'


def _short(e: BaseException, limit: int = 240) -> str:
    text = f'{type(e).__name__}: {e}'.replace('\n', ' ')
    return text if len(text) <= limit else text[: limit - 3] + '...'


def _probe_outputs(
    host: nn.Module, paths: Sequence[str], sizes: Sequence
) -> Tuple[Dict[str, object], List[str]]:
    """What each target outputs when the host runs once in eval mode on a small zero input
    (training flags restored afterwards), trying ``sizes`` in order: ``(outputs, [])``, or
    ``({}, [the host's error at each size])`` when it cannot run."""
    seen: Dict[str, object] = {}
    calls: Dict[str, int] = {}

    def record(path: str):
        def hook(module, inputs, output) -> None:  # returns None: the output stays as it is
            seen.setdefault(path, output)
            calls[path] = calls.get(path, 0) + 1

        return hook

    handles = [host.get_submodule(p).register_forward_hook(record(p)) for p in paths]
    modes = {m: m.training for m in host.modules()}
    errors: List[str] = []
    ran = False
    try:
        for m in host.modules():
            m.training = False
        for size in sizes:
            first = None
            for inputs in _probe_inputs(host, size):
                seen.clear()
                calls.clear()
                try:
                    with torch.no_grad():
                        host(*inputs)
                    ran = True
                    break
                except Exception as e:  # noqa: BLE001  (other inputs next; then other sizes)
                    first = first or e
            if ran:
                break
            errors.append(f'{size} px: {_short(first)}')
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    if not ran:
        return {}, errors
    shared = sorted(p for p, n in calls.items() if n > 1)
    if shared:
        raise ValueError(
            f'attention after {shared[0]!r}: the module runs {calls[shared[0]]} times in one '
            f'forward of {type(host).__name__} (a shared module); an attention after it would '
            f'run after every call. Choose a module that runs once, e.g. its parent'
        )
    return seen, []


def _last_layer(module: nn.Module) -> nn.Module:
    """The last registered leaf module of ``module`` (itself if it has no children)."""
    leaves = [m for m in module.modules() if not list(m.children())]
    return leaves[-1] if leaves else module


def _check_output(host: nn.Module, path: str, out) -> int:
    """The channels of the NCHW feature map ``out`` that ``path`` output; refuses others."""
    if not isinstance(out, Tensor) or out.dim() != 4:
        raise ValueError(
            f'attention after {path!r}: the module outputs {_describe(out)}, an '
            f'attention module needs an NCHW feature map (N, C, H, W); choose a '
            f'module that outputs one (transformer blocks output tokens, some '
            f'layers return tuples)'
        )
    channels = out.shape[1]
    last = _last_layer(host.get_submodule(path))
    size = getattr(last, 'out_features', None) or getattr(last, 'normalized_shape', [0])[-1]
    if size == out.shape[-1] != channels:
        raise ValueError(
            f'attention after {path!r}: the module outputs a channels-last tensor '
            f'of shape {tuple(out.shape)} (its last layer, {type(last).__name__}, '
            f'works on the last axis), an attention module needs an NCHW feature '
            f'map (N, C, H, W); choose a module that outputs one'
        )
    return channels


# ------------------------------------------------------------------ re-parameterisation
def _check_not_folded(host: nn.Module, path: str) -> None:
    """Refuse a target that the re-parameterisation of a block around it (RepVGG's and
    MobileOne's ``switch_to_deploy``) deletes: the attention after it would be dropped."""
    parts = path.split('.')
    for i in range(len(parts) - 1, 0, -1):
        block_path = '.'.join(parts[:i])
        block = host.get_submodule(block_path)
        method = next((m for m in _REPARAM if callable(getattr(block, m, None))), None)
        if method is None:
            continue
        try:
            folded = copy.deepcopy(block)
            getattr(folded, method)()
        except Exception:  # noqa: BLE001  (cannot tell: no refusal)
            return
        rest = '.'.join(parts[i:])
        try:
            folded.get_submodule(rest)
        except AttributeError:
            raise ValueError(
                f'attention after {path!r}: the module is in a branch of {block_path!r} '
                f'({type(block).__name__}) that {method}() folds into one layer, which would '
                f'drop the attention; choose {block_path!r} itself or a module it keeps'
            ) from None
        return


# ------------------------------------------------------------------ applying and freezing
class _ApplyAfter:
    """Forward hook: replace the target's output by ``parent.<name>(output)``."""

    def __init__(self, path: str, parent: nn.Module, name: str) -> None:
        self.path, self.parent, self.name = path, parent, name

    def __call__(self, module: nn.Module, inputs, output):
        if not isinstance(output, Tensor) or output.dim() != 4:
            raise TypeError(
                f'attention after {self.path!r}: the module outputs '
                f'{_describe(output)}, an attention module needs an NCHW feature map'
            )
        return getattr(self.parent, self.name)(output)


class _TrainKeepsInserted:
    """Stands in for ``host.train``: the host's own ``train(mode)`` (where its ``frozen_stages``
    and ``norm_eval`` act), then every inserted module back to the ``requires_grad`` it had and
    to ``mode``: the host's freezing acts on the host's own modules only."""

    def __init__(self, host: nn.Module) -> None:
        self.host = host
        self.inserted: List[Tuple[nn.Module, str]] = []

    def __call__(self, mode: bool = True):
        mods = [getattr(holder, name) for holder, name in self.inserted]
        grads = [(p, p.requires_grad) for m in mods for p in m.parameters()]
        try:
            return type(self.host).train(self.host, mode)
        finally:  # (also when the host's train() raises half-way)
            for p, g in grads:
                p.requires_grad_(g)
            for m in mods:
                m.train(mode)


def _keep_trainable(host: nn.Module, holder: nn.Module, name: str) -> None:
    train = host.__dict__.get('train')
    if not isinstance(train, _TrainKeepsInserted):
        train = _TrainKeepsInserted(host)
        host.__dict__['train'] = train
    train.inserted.append((holder, name))


def _holder(host: nn.Module, path: str) -> Tuple[str, nn.Module]:
    """Where the attention after ``path`` is stored: the target's parent, or the target
    itself when the parent is a ModuleList/ModuleDict (the keys earlier versions used)."""
    parent_path = path.rpartition('.')[0]
    parent = host.get_submodule(parent_path) if parent_path else host
    if isinstance(parent, (nn.ModuleList, nn.ModuleDict)):
        return path, host.get_submodule(path)
    return parent_path, parent


def _insert(host: nn.Module, path: str, name: str, module: nn.Module) -> str:
    holder_path, holder = _holder(host, path)
    target = host.get_submodule(path)
    if name in holder._modules or hasattr(holder, name):
        raise ValueError(
            f'attention after {path!r}: {holder_path or type(host).__name__} '
            f'already has a member named {name!r}; give the attention another '
            f'name (name=...)'
        )
    _store(holder, name, module, after=None if holder is target else path.split('.')[-1])
    target.register_forward_hook(_ApplyAfter(path, holder, name))
    _keep_trainable(host, holder, name)
    return f'{holder_path}.{name}' if holder_path else name


# ------------------------------------------------------------------ groups
def _groups_fix(cfg: dict, channels: Sequence[int]) -> Optional[Dict[str, int]]:
    """Overrides (e.g. ``{'num_groups': 8}``) with which ``cfg`` builds for every channel count
    in ``channels``: for each "Pass <override>=<a divisor" error, the largest common divisor
    of all the counts not above the groups that failed. ``None`` when none is found."""
    fix: Dict[str, int] = {}
    common = math.gcd(*channels)
    for _ in range(4):
        failed = None
        for c in sorted(set(channels)):
            try:
                MODELS.build(dict(cfg, **fix, in_channels=c))
            except ValueError as e:
                failed = str(e)
                break
        if failed is None:
            return fix
        key = re.search(r'Pass (\w+)=<a divisor', failed)
        if key is None or key.group(1) in fix:
            return None
        limit = re.search(r'=(\d+) does not divide', failed)
        top = min(int(limit.group(1)), common) if limit else common
        fix[key.group(1)] = max(d for d in range(1, top + 1) if common % d == 0)
    return None


# ------------------------------------------------------------------ insertion
def _declared(spec: dict, path: str) -> Optional[int]:
    ch = spec.get('channels')
    if isinstance(ch, dict):
        return ch.get(path)
    return ch


def insert_attention(
    host: nn.Module,
    attention: Sequence[dict],
    probe_size: Union[None, int, Sequence[int]] = None,
) -> Dict[str, str]:
    """Insert the attention modules ``attention`` describes into ``host`` (in place).

    Args:
        host: any backbone or neck (an ``nn.Module``).
        attention: ``[dict(cfg=<attention config or short name>, after=<pattern>,
            name=<optional>, channels=<optional: int or {path: int}>), ...]``; see the module
            docstring. ``channels`` is used only when the host cannot be run to measure them.
        probe_size: the input size (int or (H, W)) to run the host at to measure the
            channels; by default 64, 128, 224 and 320 px are tried in order.

    Returns:
        ``{target path: attention path}`` for every inserted module.
    """
    done: Dict[str, str] = {}
    sizes = list(PROBE_SIZES) if probe_size is None else [probe_size]
    for spec in attention:
        unknown = set(spec) - {'cfg', 'after', 'name', 'channels'}
        if unknown or 'after' not in spec or 'cfg' not in spec:
            raise ValueError(
                f'attention entry {spec!r}: expected keys cfg, after and '
                f'optionally name and channels (got {sorted(spec)})'
            )
        cfg = attention_cfg(spec['cfg'])
        paths = match_modules(host, spec['after'])
        for path in paths:
            _check_not_folded(host, path)
        outputs, errors = _probe_outputs(host, paths, sizes)
        if outputs:  # the size that ran first next time
            sizes = sizes[len(errors) :] + sizes[: len(errors)]
        holder_of = {p: _holder(host, p)[0] for p in paths}
        shared = Counter(holder_of.values())
        channels: Dict[str, int] = {}
        for path in paths:
            declared = _declared(spec, path)
            if outputs:
                if path not in outputs:
                    raise ValueError(
                        f'attention after {path!r}: the module does not run in the forward '
                        f'of {type(host).__name__}; choose one that does'
                    )
                channels[path] = _check_output(host, path, outputs[path])
                if declared is not None and declared != channels[path]:
                    raise ValueError(
                        f'attention after {path!r}: channels={declared} declared, the module '
                        f'outputs {channels[path]} (measured); drop channels= or correct it'
                    )
            elif declared is not None:
                channels[path] = int(declared)
            else:
                raise ValueError(
                    f'attention after {path!r}: cannot measure its output channels: '
                    f'{type(host).__name__} did not run on a zero input '
                    f'({"; ".join(errors)}). Pass probe_size=<H or (H, W) it accepts> to '
                    f'WithAttention (insert_attention), or declare the channels in the entry: '
                    f'dict(cfg=..., after={spec["after"]!r}, channels=<C or {{path: C}}>)'
                )
        modules = {}
        for path in paths:
            try:
                modules[path] = MODELS.build(dict(cfg, in_channels=channels[path]))
            except ValueError as e:
                fix = _groups_fix(cfg, list(channels.values()))
                hint = ''
                if fix:
                    args = ', '.join(f'{k}={v}' for k, v in fix.items())
                    hint = (
                        f' For every target of this entry ({len(paths)} modules, channels '
                        f'{sorted(set(channels.values()))}): pass {args} in its cfg'
                    )
                raise ValueError(
                    f'attention after {path!r} ({channels[path]} channels): {e}{hint}'
                ) from e
        for path in paths:
            module = modules[path]
            name = spec.get('name') or getattr(module, '_abbr_', type(module).__name__.lower())
            if shared[holder_of[path]] > 1:
                name = f'{name}_{path.rpartition(".")[2]}'
            done[path] = _insert(host, path, name, module)
    return done


# ------------------------------------------------------------------ the registry entry
def _library_registry(lib: str):
    """The ``MODELS`` registry of library (scope) ``lib``, its models imported."""
    registry = importlib.import_module(f'{lib}.registry').MODELS
    registry.import_from_location()
    return registry


def _find_host(name):
    """``name`` as the registry finds it: unchanged when it has a scope (``'mmdet.FPN'``), when
    the current default scope or the root registry has it; else ``'<lib>.<name>'`` for the one
    library of :data:`LIBRARIES` that defines it. Raises a ``KeyError`` that lists where it
    exists when that is several libraries or none."""
    if not isinstance(name, str) or '.' in name:
        return name
    scope = DefaultScope.get_current_instance()
    scope = scope.scope_name if scope is not None else None
    if scope and scope != MODELS.scope:
        try:
            if _library_registry(scope).get(name) is not None:
                return name  # (the scope's registry or the root one has it)
        except (ImportError, KeyError):
            pass
    if name in MODELS.module_dict:
        return name
    found = []
    for lib in LIBRARIES:
        try:
            if name in _library_registry(lib).module_dict:
                found.append(f'{lib}.{name}')
        except ImportError:
            continue
    if len(found) == 1:
        return found[0]
    if found:
        raise KeyError(
            f'host {name!r} exists in {", ".join(found)}: name one (host={found[0]!r}) or '
            f'build in a default scope (default_scope=...)'
        )
    raise KeyError(
        f'host {name!r} is in no registry of {", ".join(LIBRARIES)} nor the root registry '
        f'(check the spelling, or the library that defines it is not installed)'
    )


@MODELS.register_module()
def WithAttention(  # noqa: N802
    host: Union[str, dict],
    attention: Sequence[dict],
    probe_size: Union[None, int, Sequence[int]] = None,
    **kwargs,
) -> nn.Module:
    """Build ``host`` (a type name with ``kwargs`` as its arguments, or a full config) and
    insert ``attention`` into it (:func:`insert_attention`; ``probe_size``: the input size to
    measure channels at). ``host`` is looked up in the current scope, else in the one library
    that defines it (``host='mmdet.FPN'`` names one). Returns the host itself: its class, its
    keys and its ``init_cfg`` as upstream, plus the attention modules."""
    cfg = dict(type=host, **kwargs) if isinstance(host, str) else dict(host, **kwargs)
    cfg['type'] = _find_host(cfg['type'])
    model = MODELS.build(cfg)
    insert_attention(model, attention, probe_size=probe_size)
    return model
