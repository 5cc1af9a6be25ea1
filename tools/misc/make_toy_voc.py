"""Generate the toy VOC-format dataset (library: ela_mm/datasets/toy_voc.py).

python tools/misc/make_toy_voc.py [--out data/toy_voc] [--num-train 240] [--num-test 80]
                                  [--seed 0]
"""

import argparse
import os.path as osp
import sys


def parse_args():
    parser = argparse.ArgumentParser(description='Generate the toy VOC-format dataset.')
    parser.add_argument('--out', default='data/toy_voc', help='output folder')
    parser.add_argument('--num-train', type=int, default=240)
    parser.add_argument('--num-test', type=int, default=80)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()  # before the imports: -h answers at once
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from ela_mm.datasets.toy_voc import generate

    root = generate(args.out, args.num_train, args.num_test, args.seed)
    print(
        f'toy VOC dataset (seed {args.seed}): {args.num_train} train + {args.num_test} test '
        f'images in {root}'
    )


if __name__ == '__main__':
    main()
