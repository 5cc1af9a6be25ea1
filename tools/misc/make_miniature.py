"""Write miniature real-layout datasets (library: ela_mm/datasets/miniature.py).

python tools/misc/make_miniature.py [--out data/miniature] [--trees voc0712 coco imagenet]
                                    [--per-split 2] [--seed 0]

Then smoke-test a config on them: tools/train.py CONFIG --data-root <the tree it prints>
--schedule 2e (docs/miniature_data.md). A folder this command did not write is never replaced.
"""

import os.path as osp
import sys

if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    from ela_mm.datasets.miniature import main

    main()
