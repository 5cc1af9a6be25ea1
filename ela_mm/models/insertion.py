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

Each module is built with the target's output channels (found by running the host once on a
small input, or from its layers' widths) and becomes a **sibling placed right after its
target**: in a ``Sequential`` parent it is inserted after the target and runs in order; in any
other parent it is registered there and a forward hook applies it to the target's output. Its
keys are ``<parent>.<name>.*`` (``name``: the module's ``_abbr_`` or the one given, with the
target's name appended when several targets share a parent). A target whose parent is a
``ModuleList``/``ModuleDict`` (which the host iterates) holds its attention itself instead:
``<target>.<name>.*``. The host's own keys do not change, so an upstream checkpoint loads with
exactly the attention keys missing.
"""

import difflib
import fnmatch
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.registry import MODELS
from torch import Tensor

from .attention import attention_cfg

__all__ = ['WithAttention', 'insert_attention', 'match_modules']

_INDEX = re.compile(r'^-\d+$')


def _children(module: nn.Module) -> List[Tuple[str, nn.Module]]:
    return [(n, m) for n, m in module.named_children()]


def match_modules(root: nn.Module, pattern: str) -> List[str]:
    """Paths of the submodules of ``root`` that ``pattern`` names (see the module docstring),
    in the order of ``root.named_modules()``. Raises a ``ValueError`` that lists the closest
    module names when nothing matches."""
    level: List[Tuple[str, nn.Module]] = [('', root)]
    for part in pattern.split('.'):
        nxt = []
        for path, mod in level:
            kids = _children(mod)
            if _INDEX.match(part):
                i = int(part)
                chosen = [kids[i]] if len(kids) >= -i else []
            else:
                chosen = [(n, m) for n, m in kids if fnmatch.fnmatchcase(n, part)]
            nxt += [(f'{path}.{n}' if path else n, m) for n, m in chosen]
        level = nxt
    if not level:
        names = [n for n, _ in root.named_modules() if n]
        close = difflib.get_close_matches(pattern, names, n=6, cutoff=0.4)
        if not close:  # show the top level, where a path starts
            close = [n for n, _ in _children(root)][:10]
        raise ValueError(
            f'no module of {type(root).__name__} matches {pattern!r}; closest names: '
            f'{", ".join(close)}. Patterns are dotted module paths with *, ?, [2-4] and -1 '
            f'(last child): see print(model) or [n for n, _ in model.named_modules()]'
        )
    order = {n: i for i, (n, _) in enumerate(root.named_modules())}
    return sorted({p for p, _ in level}, key=order.__getitem__)


def _probe_inputs(host: nn.Module, size: int = 64) -> List[tuple]:
    """Candidate inputs to run ``host`` once, in order: feature maps for a neck that declares
    its input widths (an ``in_channels`` list), an RGB image batch, an image batch with the
    host's ``in_channels``."""
    in_ch = getattr(host, 'in_channels', None)
    cands = []
    if isinstance(in_ch, (list, tuple)) and all(isinstance(c, int) for c in in_ch):
        cands.append(
            ([torch.zeros(1, c, size // 2**i, size // 2**i) for i, c in enumerate(in_ch)],)
        )
    cands.append((torch.zeros(1, 3, size, size),))
    if isinstance(in_ch, int) and in_ch != 3:
        cands.append((torch.zeros(1, in_ch, size, size),))
    return cands


def _describe(out) -> str:
    if isinstance(out, Tensor):
        return f'a tensor of shape {tuple(out.shape)}'
    return f'a {type(out).__name__}'


def _probe_outputs(host: nn.Module, paths: Sequence[str]) -> Dict[str, object]:
    """What each target outputs when the host runs once in eval mode on a small zero input
    (training flags restored afterwards); ``{}`` when the host cannot be run that way."""
    seen: Dict[str, object] = {}

    calls: Dict[str, int] = {}

    def record(path: str):
        def hook(module, inputs, output) -> None:  # returns None: the output stays as it is
            seen.setdefault(path, output)
            calls[path] = calls.get(path, 0) + 1

        return hook

    handles = [host.get_submodule(p).register_forward_hook(record(p)) for p in paths]
    modes = {m: m.training for m in host.modules()}
    try:
        for m in host.modules():
            m.training = False
        for inputs in _probe_inputs(host):
            seen.clear()
            calls.clear()
            try:
                with torch.no_grad():
                    host(*inputs)
                break
            except Exception:  # noqa: BLE001  (other inputs next; at the end, the widths)
                seen.clear()
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    shared = sorted(p for p, n in calls.items() if n > 1)
    if shared:
        raise ValueError(
            f'attention after {shared[0]!r}: the module runs {calls[shared[0]]} times in one '
            f'forward of {type(host).__name__} (a shared module); an attention after it would '
            f'run after every call. Choose a module that runs once, e.g. its parent'
        )
    return seen


def _width(module: nn.Module) -> Optional[int]:
    """The output channels of ``module`` from its layers: its own ``out_channels`` /
    ``num_features``, else those of its last submodule that has one."""
    for m in [module] + list(module.modules())[::-1]:
        for attr in ('out_channels', 'num_features', 'num_channels'):
            value = getattr(m, attr, None)
            if isinstance(value, int):
                return value
    return None


def _last_layer(module: nn.Module) -> nn.Module:
    """The last registered leaf module of ``module`` (itself if it has no children)."""
    leaves = [m for m in module.modules() if not list(m.children())]
    return leaves[-1] if leaves else module


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


def _holder(host: nn.Module, path: str) -> Tuple[str, nn.Module]:
    """Where the attention after ``path`` is registered: the target's parent, or the target
    itself when the parent is a ModuleList/ModuleDict (whose members are iterated by the host:
    a new member there would change what the host runs)."""
    parent_path = path.rpartition('.')[0]
    parent = host.get_submodule(parent_path) if parent_path else host
    if isinstance(parent, (nn.ModuleList, nn.ModuleDict)):
        return path, host.get_submodule(path)
    return parent_path, parent


def _insert(host: nn.Module, path: str, name: str, module: nn.Module) -> str:
    holder_path, holder = _holder(host, path)
    target = host.get_submodule(path)
    if hasattr(holder, name):
        raise ValueError(
            f'attention after {path!r}: {holder_path or type(host).__name__} '
            f'already has a member named {name!r}; give the attention another '
            f'name (name=...)'
        )
    if isinstance(holder, nn.Sequential):  # runs in order: no hook needed
        items = list(holder._modules.items())
        at = (
            len(items) if holder is target else [k for k, _ in items].index(path.split('.')[-1]) + 1
        )
        holder._modules = OrderedDict(items[:at] + [(name, module)] + items[at:])
    else:
        holder.add_module(name, module)
        target.register_forward_hook(_ApplyAfter(path, holder, name))
    return f'{holder_path}.{name}' if holder_path else name


def insert_attention(host: nn.Module, attention: Sequence[dict]) -> Dict[str, str]:
    """Insert the attention modules ``attention`` describes into ``host`` (in place).

    Args:
        host: any backbone or neck (an ``nn.Module``).
        attention: ``[dict(cfg=<attention config or short name>, after=<pattern>,
            name=<optional>), ...]``; see the module docstring.

    Returns:
        ``{target path: attention path}`` for every inserted module.
    """
    done: Dict[str, str] = {}
    for spec in attention:
        unknown = set(spec) - {'cfg', 'after', 'name'}
        if unknown or 'after' not in spec or 'cfg' not in spec:
            raise ValueError(
                f'attention entry {spec!r}: expected keys cfg, after and '
                f'optionally name (got {sorted(spec)})'
            )
        cfg = attention_cfg(spec['cfg'])
        paths = match_modules(host, spec['after'])
        outputs = _probe_outputs(host, paths)
        holder_of = {p: _holder(host, p)[0] for p in paths}
        shared = Counter(holder_of.values())
        for path in paths:
            if outputs:
                if path not in outputs:
                    raise ValueError(
                        f'attention after {path!r}: the module does not run in the forward '
                        f'of {type(host).__name__}; choose one that does'
                    )
                out = outputs[path]
                if not isinstance(out, Tensor) or out.dim() != 4:
                    raise ValueError(
                        f'attention after {path!r}: the module outputs {_describe(out)}, an '
                        f'attention module needs an NCHW feature map (N, C, H, W); choose a '
                        f'module that outputs one (transformer blocks output tokens, some '
                        f'layers return tuples)'
                    )
                channels = out.shape[1]
                last = _last_layer(host.get_submodule(path))
                size = (
                    getattr(last, 'out_features', None)
                    or getattr(last, 'normalized_shape', [0])[-1]
                )
                if size == out.shape[-1] != channels:
                    raise ValueError(
                        f'attention after {path!r}: the module outputs a channels-last tensor '
                        f'of shape {tuple(out.shape)} (its last layer, {type(last).__name__}, '
                        f'works on the last axis), an attention module needs an NCHW feature '
                        f'map (N, C, H, W); choose a module that outputs one'
                    )
            else:
                channels = _width(host.get_submodule(path))
                if channels is None:
                    raise ValueError(
                        f'attention after {path!r}: cannot tell its output '
                        f'channels (the host did not run on a small input and '
                        f'the module declares no width)'
                    )
            try:
                module = MODELS.build(dict(cfg, in_channels=channels))
            except ValueError as e:
                raise ValueError(f'attention after {path!r} ({channels} channels): {e}') from e
            name = spec.get('name') or getattr(module, '_abbr_', type(module).__name__.lower())
            if shared[holder_of[path]] > 1:
                name = f'{name}_{path.rpartition(".")[2]}'
            done[path] = _insert(host, path, name, module)
    return done


@MODELS.register_module()
def WithAttention(host: Union[str, dict], attention: Sequence[dict], **kwargs) -> nn.Module:  # noqa: N802
    """Build ``host`` (a type name with ``kwargs`` as its arguments, or a full config) in the
    current scope and insert ``attention`` into it (:func:`insert_attention`). Returns the host
    itself: its class, its keys and its ``init_cfg`` as upstream, plus the attention modules."""
    cfg = dict(type=host, **kwargs) if isinstance(host, str) else dict(host, **kwargs)
    model = MODELS.build(cfg)
    insert_attention(model, attention)
    return model
