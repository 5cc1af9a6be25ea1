"""Generate the toy VOC-format dataset (see ela_mm/datasets/toy_voc.py).

    python tools/misc/make_toy_voc.py [--out data/toy_voc] [--seed 0]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from ela_mm.datasets.toy_voc import main  # noqa: E402

if __name__ == '__main__':
    main()
