"""Generate the toy VOC-format dataset (library: ela_mm/datasets/toy_voc.py).

python tools/misc/make_toy_voc.py [--out data/toy_voc] [--num-train 1600] [--num-val 160]
                                  [--num-test 240] [--num-cls-extra 4200] [--seed 0]
                                  [--if-needed]

A toy set this command wrote earlier into --out is replaced (its stamp, toy_voc.json, says so);
a VOC2007 folder it did not write is left alone and the command stops.
"""

import argparse
import os.path as osp

# the published split sizes (ela_mm.datasets.toy_voc.DEFAULT_SPLITS; a test keeps them equal)
DEFAULTS = dict(num_train=1600, num_val=160, num_test=240, num_cls_extra=4200)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate the toy VOC-format dataset.')
    parser.add_argument('--out', default='data/toy_voc', help='output folder')
    parser.add_argument('--num-train', type=int, default=DEFAULTS['num_train'])
    parser.add_argument('--num-val', type=int, default=DEFAULTS['num_val'])
    parser.add_argument('--num-test', type=int, default=DEFAULTS['num_test'])
    parser.add_argument(
        '--num-cls-extra',
        type=int,
        default=DEFAULTS['num_cls_extra'],
        help='images drawn for classification training crops only (not written as VOC images)',
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--if-needed',
        action='store_true',
        help='do nothing when --out already holds a toy set of these sizes, seed and generator '
        'version (what the demos use)',
    )
    return parser, parser.parse_args(argv)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    from ela_mm.datasets.toy_voc import generate, read_stamp, stamp_of

    want = stamp_of(args.num_train, args.num_val, args.num_test, args.seed, args.num_cls_extra)
    complete = all(  # a set cut short (interrupted, or files removed) is made again
        osp.isfile(osp.join(args.out, sub, 'test.txt'))
        for sub in (
            'VOC2007/ImageSets/Main',
            'VOC2007/ImageSets/Segmentation',
            'classification/meta',
        )
    )
    if args.if_needed and complete and read_stamp(args.out) == want:
        print(f'toy VOC dataset in {args.out} is current ({want})')
        return
    try:
        root = generate(
            args.out,
            args.num_train,
            args.num_test,
            args.seed,
            num_val=args.num_val,
            num_cls_extra=args.num_cls_extra,
        )
    except FileExistsError as e:
        raise SystemExit(str(e)) from None
    print(
        f'toy VOC dataset (seed {args.seed}): {args.num_train} train + {args.num_val} val + '
        f'{args.num_test} test images in {root}; classification crops from these and '
        f'{args.num_cls_extra} more images'
    )


if __name__ == '__main__':
    main()
