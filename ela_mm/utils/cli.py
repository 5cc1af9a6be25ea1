"""How every tool starts, after it has parsed its arguments (argparse only, so that ``-h`` and a
bad option answer before torch and the OpenMMLab libraries are imported):

    parser, args = parse_args(argv)
    from ela_mm.utils.cli import start

    start(parser, args)

:func:`start` hides the upstream notices that no user can act on (:data:`UPSTREAM_NOTICES`:
mmengine imports pkg_resources when it resolves a ``pkg::`` config, mmdet and mmengine call
torch's old ``torch.cuda.amp`` API while training) and turns ``--cfg-options key=value ...``
into mmengine's dict, or stops with a usage error that names the item.
"""

import argparse
import warnings
from typing import Optional, Sequence

#: upstream deprecation notices that precede a tool's output and that no user can act on:
#: setuptools' pkg_resources notice (mmengine imports it, and reloads it, at run time),
#: torch's ``torch.cuda.amp`` notices (mmdet and mmengine call the old API) and mmseg's
#: ``build_loss`` (and ``build_head`` ...) notices (mmseg's own heads call them)
UPSTREAM_NOTICES = (
    (UserWarning, r'pkg_resources is deprecated as an API'),
    (FutureWarning, r'`torch\.cuda\.amp\.\w+\(args\.\.\.\)` is deprecated'),
    (UserWarning, r'``build_(backbone|neck|head|loss)`` would be deprecated soon'),
)


def quiet_upstream_notices() -> None:
    """Hide :data:`UPSTREAM_NOTICES` in this process (a tool's, not a library user's)."""
    for category, message in UPSTREAM_NOTICES:
        warnings.filterwarnings('ignore', message=message, category=category)


def cfg_options(parser: argparse.ArgumentParser, items: Optional[Sequence[str]]) -> dict:
    """``--cfg-options`` items as mmengine's ``DictAction`` parses them (``None`` for none);
    an item that is not ``key=value`` is a usage error of ``parser`` (exit status 2)."""
    from mmengine.config import DictAction

    for kv in items or ():
        if '=' not in kv or kv.startswith('='):
            parser.error(
                f'--cfg-options {kv!r}: expected key=value (e.g. train_cfg.max_epochs=12; '
                f'list items by index: model.backbone.plugins.0.cfg.variant=B)'
            )
    if not items:
        return None
    namespace = argparse.Namespace()
    DictAction(['--cfg-options'], 'cfg_options')(parser, namespace, list(items))
    return namespace.cfg_options


def start(
    parser: argparse.ArgumentParser, args: argparse.Namespace, parse_cfg_options: bool = True
) -> argparse.Namespace:
    """A tool's start after parsing: upstream notices hidden, and ``args.cfg_options`` (where
    the tool has it) checked and, with ``parse_cfg_options``, turned into a dict
    (:func:`cfg_options`; a tool that passes the items on as text keeps them). Returns
    ``args``."""
    quiet_upstream_notices()
    items = getattr(args, 'cfg_options', None)
    if items:
        parsed = cfg_options(parser, items)
        if parse_cfg_options:
            args.cfg_options = parsed
    return args
