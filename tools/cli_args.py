"""Command-line options that tools/train.py and tools/test.py share, as mmdet's tools name them.
Only argparse is imported here, so that ``-h`` and a bad option answer at once; after parsing, a
tool starts with :func:`ela_mm.utils.cli.start` (which also turns ``--cfg-options`` into a
dict)."""

import argparse


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """``--cfg-options key=value ...``: override config entries, as mmdet's tools do."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        metavar='KEY=VALUE',
        help='override config entries, key=value (list items: a.0.b=v)',
    )


def add_common_args(parser: argparse.ArgumentParser) -> None:
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
