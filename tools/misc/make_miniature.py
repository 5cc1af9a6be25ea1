"""Write miniature real-layout datasets (library: ela_mm/datasets/miniature.py).

python tools/misc/make_miniature.py [--out data/miniature] [--trees voc0712 coco imagenet]
                                    [--per-split 2] [--seed 0]

Then smoke-test a config on them: tools/train.py CONFIG --data-root <the tree it prints>
--schedule 2e (docs/miniature_data.md). A folder this command did not write is never replaced.
"""

import argparse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write miniature copies of Pascal VOC 07+12, VOC 2012 + SBD aug, COCO 2017 '
        'and ImageNet in their real layouts, to smoke-test a config before a long run.'
    )
    parser.add_argument('--out', default='data/miniature', help='output folder')
    parser.add_argument(
        '--trees', nargs='+', help='voc0712 (with VOC 2012 aug), coco, imagenet (default: all)'
    )
    parser.add_argument('--per-split', type=int, default=2, help='images per split')
    parser.add_argument('--seed', type=int, default=0)
    return parser, parser.parse_args(argv)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    from ela_mm.datasets.miniature import CONFIG_TREES, WRITERS, generate_miniature

    unknown = sorted(set(args.trees or ()) - set(WRITERS))
    if unknown:
        parser.error(f'--trees {" ".join(unknown)}: choose from {", ".join(WRITERS)}')
    roots = generate_miniature(args.out, args.trees or list(WRITERS), args.per_split, args.seed)
    print('miniature datasets written; pass --data-root to tools/train.py / tools/test.py:')
    for tree, root in roots.items():
        ends = ', '.join(f'*{k}' for k, t in CONFIG_TREES.items() if t == tree)
        print(f'  {tree:9s} --data-root {root}   ({ends})')


if __name__ == '__main__':
    main()
