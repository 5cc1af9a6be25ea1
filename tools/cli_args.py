"""Command-line options the tools share, as mmdet's tools name them. Only argparse and
mmengine's DictAction are imported here, so that ``-h`` answers at once (the tools import ela_mm,
torch and the OpenMMLab libraries after parsing)."""

import warnings

#: upstream deprecation notices that precede every tool's output and that no user can act on:
#: setuptools' pkg_resources notice (mmengine, mmcv import it) and torch's ``torch.cuda.amp``
#: notices (mmdet, mmengine call the old API). Filtered before mmengine is imported.
UPSTREAM_NOTICES = (
    (UserWarning, r'pkg_resources is deprecated as an API'),
    (FutureWarning, r'`torch\.cuda\.amp\.\w+\(args\.\.\.\)` is deprecated'),
)
for _category, _message in UPSTREAM_NOTICES:
    warnings.filterwarnings('ignore', message=_message, category=_category)

from mmengine.config import DictAction  # noqa: E402


def add_common_args(parser) -> None:
    """The options tools/train.py and tools/test.py share (as mmdet's tools name them)."""
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument(
        '--data-root',
        help='point every dataset of the config at this folder (what the config calls '
        'data_root; wrapped datasets included)',
    )
    add_cfg_options(parser)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (mmengine)',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


class CfgOptionsAction(DictAction):
    """mmengine's DictAction, with an argparse error (instead of a bare unpacking error) for
    an item that is not ``key=value``."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values:
            if '=' not in kv or kv.startswith('='):
                parser.error(
                    f'--cfg-options {kv!r}: expected key=value (e.g. train_cfg.max_epochs=12; '
                    f'list items by index: model.backbone.plugins.0.cfg.variant=B)'
                )
        super().__call__(parser, namespace, values, option_string)


def add_cfg_options(parser) -> None:
    """``--cfg-options key=value ...``: override config entries, as mmdet's tools do."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config entries, key=value (list items: a.0.b=v)',
    )
