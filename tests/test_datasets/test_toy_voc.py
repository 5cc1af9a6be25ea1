"""The toy dataset: deterministic, VOC-format, read by the unchanged upstream classes."""

import filecmp
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from ela_mm.datasets.toy_voc import TOY_CLASSES, VOC_CLASSES, generate, toy_metainfo


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp('toy')
    generate(str(out), num_train=24, num_test=8, seed=3)
    return str(out)


def test_deterministic_from_seed(toy, tmp_path):
    generate(str(tmp_path / 'a'), num_train=24, num_test=8, seed=3)
    generate(str(tmp_path / 'b'), num_train=24, num_test=8, seed=4)
    for sub in (
        'JPEGImages/000005.jpg',
        'Annotations/000005.xml',
        'SegmentationClass/000005.png',
        'ImageSets/Main/test.txt',
    ):
        assert filecmp.cmp(
            osp.join(toy, 'VOC2007', sub), str(tmp_path / 'a/VOC2007' / sub), shallow=False
        )
    assert not filecmp.cmp(
        osp.join(toy, 'VOC2007/Annotations/000005.xml'),
        str(tmp_path / 'b/VOC2007/Annotations/000005.xml'),
        shallow=False,
    )


def test_mmdet_voc_dataset_reads_it(toy):
    from mmdet.datasets import VOCDataset

    ds = VOCDataset(
        data_root=toy,
        ann_file='VOC2007/ImageSets/Main/train.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=toy_metainfo(),
        pipeline=[],
        test_mode=True,
    )
    assert len(ds) == 24 and ds.metainfo['dataset_type'] == 'VOC2007'
    labels, difficult, sizes = [], 0, []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        for inst in info['instances']:
            x0, y0, x1, y1 = inst['bbox']
            assert 0 <= x0 < x1 <= info['width'] and 0 <= y0 < y1 <= info['height']
            labels.append(inst['bbox_label'])
            difficult += inst['ignore_flag']
            sizes.append((x1 - x0) / info['width'])
    assert set(labels) == {0, 1, 2}  # all three classes occur
    assert difficult > 0  # occluded or tiny objects are flagged, as VOC does
    assert min(sizes) < 0.15 < 0.3 < max(sizes)  # varied sizes


def test_voc_metric_scores_ground_truth_as_perfect(toy):
    """The unchanged VOCMetric wired to this data: GT boxes as predictions give mAP 1."""
    import torch
    from mmdet.datasets import VOCDataset
    from mmdet.evaluation import VOCMetric

    ds = VOCDataset(
        data_root=toy,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=toy_metainfo(),
        pipeline=[],
        test_mode=True,
    )
    metric = VOCMetric(metric='mAP', eval_mode='11points')
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        inst = ds.get_data_info(i)['instances']
        keep = [x for x in inst if not x['ignore_flag']]
        ign = [x for x in inst if x['ignore_flag']]

        def t(xs, key, shape):
            return torch.tensor([x[key] for x in xs], dtype=torch.float32).reshape(shape)

        samples.append(
            dict(
                gt_instances=dict(
                    bboxes=t(keep, 'bbox', (-1, 4)), labels=t(keep, 'bbox_label', (-1,)).long()
                ),
                ignored_instances=dict(
                    bboxes=t(ign, 'bbox', (-1, 4)), labels=t(ign, 'bbox_label', (-1,)).long()
                ),
                pred_instances=dict(
                    bboxes=t(keep, 'bbox', (-1, 4)),
                    labels=t(keep, 'bbox_label', (-1,)).long(),
                    scores=torch.ones(len(keep)),
                ),
            )
        )
    metric.process({}, samples)
    assert metric.compute_metrics(metric.results)['mAP'] == pytest.approx(1.0)


def test_mmseg_pascal_voc_dataset_reads_it(toy):
    from mmseg.datasets import PascalVOCDataset

    ds = PascalVOCDataset(
        data_root=osp.join(toy, 'VOC2007'),
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        metainfo=toy_metainfo(segmentation=True),
        pipeline=[],
    )
    assert len(ds) == 24
    info = ds.get_data_info(0)
    # the toy masks carry VOC indices; the subset metainfo remaps them like any VOC subset
    assert info['label_map'][VOC_CLASSES.index('bird')] == 3
    assert info['label_map'][VOC_CLASSES.index('dog')] == 255
    png = Image.open(info['seg_map_path'])
    assert png.mode == 'P' and png.getpalette()[3:6] == [128, 0, 0]
    values = set(np.unique(np.array(png)))
    assert 255 in values and 0 in values and values <= {0, 1, 2, 3, 255}


def test_layout_matches_voc(toy):
    root = osp.join(toy, 'VOC2007')
    for f in (
        'ImageSets/Main/train.txt',
        'ImageSets/Main/val.txt',
        'ImageSets/Main/trainval.txt',
        'ImageSets/Main/test.txt',
        'ImageSets/Segmentation/train.txt',
        'ImageSets/Segmentation/val.txt',
    ):
        assert osp.isfile(osp.join(root, f)), f
    assert len(os.listdir(osp.join(root, 'JPEGImages'))) == 24 + 4 + 8  # val: half of test


def _split(root, name, folder='Main'):
    with open(osp.join(root, 'VOC2007/ImageSets', folder, f'{name}.txt')) as f:
        return f.read().split()


def test_splits_are_disjoint(toy):
    """val is a split of its own: no test image is validated on or trained on."""
    train, val, test = (_split(toy, n) for n in ('train', 'val', 'test'))
    assert (len(train), len(val), len(test)) == (24, 4, 8)
    assert not set(train) & set(val) and not set(test) & (set(train) | set(val))
    assert _split(toy, 'trainval') == train + val
    for n in ('train', 'val', 'test'):
        assert _split(toy, n, 'Segmentation') == _split(toy, n)


def test_regenerating_replaces_the_old_set(tmp_path):
    out = str(tmp_path / 'toy')
    generate(out, num_train=6, num_test=4, seed=0)
    generate(out, num_train=3, num_test=2, seed=1, num_val=1)
    for sub in ('JPEGImages', 'Annotations', 'SegmentationClass'):
        assert len(os.listdir(osp.join(out, 'VOC2007', sub))) == 6, sub  # none of the 10 left
    from ela_mm.datasets.toy_voc import read_stamp, stamp_of

    assert read_stamp(out) == stamp_of(3, 1, 2, 1)


def test_a_toy_set_of_the_first_generator_is_replaced(tmp_path):
    """The first generator wrote no stamp (its val list was its test list): a user who ran an
    earlier demo gets the current set, not a refusal."""
    out = str(tmp_path)
    generate(out, num_train=4, num_test=2, num_val=2, seed=0)
    main = osp.join(out, 'VOC2007/ImageSets/Main')
    with open(osp.join(main, 'test.txt')) as f, open(osp.join(main, 'val.txt'), 'w') as g:
        g.write(f.read())  # as the first generator wrote it
    os.remove(osp.join(out, 'toy_voc.json'))
    generate(out, num_train=3, num_test=2, seed=1)
    assert len(os.listdir(osp.join(out, 'VOC2007/JPEGImages'))) == 3 + 1 + 2


def test_a_folder_it_did_not_write_is_left_alone(tmp_path):
    mine = tmp_path / 'VOC2007' / 'JPEGImages'
    mine.mkdir(parents=True)
    (mine / 'holiday.jpg').write_bytes(b'x')
    with pytest.raises(FileExistsError, match='was not written by the toy generator'):
        generate(str(tmp_path), num_train=2, num_test=2)
    assert (mine / 'holiday.jpg').read_bytes() == b'x'


def test_the_tool_defaults_are_the_published_splits():
    import runpy

    tool = runpy.run_path(osp.join(osp.dirname(__file__), '../../tools/misc/make_toy_voc.py'))
    from ela_mm.datasets.toy_voc import DEFAULT_SPLITS

    assert tool['DEFAULTS'] == DEFAULT_SPLITS


def _objects(root, name):
    from xml.etree import ElementTree as ET

    tree = ET.parse(osp.join(root, 'Annotations', f'{name}.xml'))
    out = []
    for o in tree.findall('object'):
        b = o.find('bndbox')
        box = [int(b.find(k).text) for k in ('xmin', 'ymin', 'xmax', 'ymax')]
        out.append((o.find('name').text, box, o.find('difficult').text == '1'))
    return out


def test_labels_name_the_drawn_shape(tmp_path):
    """The XML label of each object names the class its pixels carry in the mask, and each
    class is its shape: rings have a hole at the box centre, triangles fill about half of their
    box, ellipses about pi/4. Only large, unoccluded objects are measured."""
    generate(str(tmp_path), num_train=60, num_test=0, seed=5)
    root = osp.join(str(tmp_path), 'VOC2007')
    stats = {n: dict(centre=[], fill=[], own=[]) for n in ('aeroplane', 'bicycle', 'bird')}
    for i in range(1, 61):
        name = f'{i:06d}'
        label = np.array(Image.open(osp.join(root, 'SegmentationClass', f'{name}.png')))
        objs = _objects(root, name)
        for k, (cls, (x0, y0, x1, y1), difficult) in enumerate(objs):
            others = [b for j, (_, b, _) in enumerate(objs) if j != k]
            if (
                difficult
                or min(x1 - x0, y1 - y0) < 24
                or any(b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3] for b in others)
            ):
                continue
            idx = VOC_CLASSES.index(cls)
            box = label[y0 - 1 : y1, x0 - 1 : x1]
            inside = (box == idx) | (box == 255)
            stats[cls]['centre'].append(label[(y0 + y1) // 2 - 1, (x0 + x1) // 2 - 1])
            stats[cls]['fill'].append(inside.mean())
            stats[cls]['own'].append(set(np.unique(box)) <= {0, idx, 255})
    for cls, s in stats.items():
        assert len(s['fill']) >= 5, cls
        assert all(s['own']), f'{cls}: the box holds pixels of another class'
    hole = {cls: np.mean([c == 0 for c in s['centre']]) for cls, s in stats.items()}
    fill = {cls: float(np.median(s['fill'])) for cls, s in stats.items()}
    assert hole['bicycle'] >= 0.9 and hole['aeroplane'] <= 0.1 and hole['bird'] <= 0.1, hole
    assert fill['bird'] > 0.72 and 0.4 < fill['aeroplane'] < 0.65, fill


def test_a_crop_shows_one_dominant_object(tmp_path):
    """A classification crop is written for an object that dominates it (one label per crop):
    not where another object's box covers more than MAX_OTHERS_IN_CROP of the crop, whatever
    its class; occluded, difficult objects get none."""
    from ela_mm.datasets.toy_voc import MAX_OTHERS_IN_CROP, write_crops

    img = Image.new('RGB', (200, 200))
    alone = ('bird', (20, 20, 60, 60), False, 1.0)  # crop square: 54 px around (40, 40)
    far = ('bicycle', (150, 150, 190, 190), False, 1.0)
    lines = []
    write_crops(img, [alone, far], 'a', str(tmp_path), 'val', lines)
    assert lines == ['a_0.JPEG 2', 'a_1.JPEG 1']
    for cover, written in ((0.15, True), (0.3, False)):
        side = int(40 * 1.3) + 2
        x0 = 40 - side // 2  # another object's box covering `cover` of the crop, in its corner
        other = ('aeroplane', (x0, x0, x0 + int(side * cover), x0 + side), False, 1.0)
        lines = []
        write_crops(img, [alone, other], 'b', str(tmp_path), 'val', lines)
        assert ('b_0.JPEG 2' in lines) is written, (cover, MAX_OTHERS_IN_CROP, lines)
    lines = []
    write_crops(img, [('bird', (20, 20, 60, 60), False, 0.5)], 'c', str(tmp_path), 'val', lines)
    assert lines == []


def test_extra_classification_images_add_training_crops_only(toy, tmp_path):
    """``num_cls_extra`` images give classification training crops and nothing else: the VOC
    images, annotations, masks and lists and the val/test crops are byte for byte those of the
    set without them, and every added crop is a training crop of an extra image."""
    from ela_mm.datasets.toy_voc import read_stamp

    out = str(tmp_path / 'extra')
    generate(out, num_train=24, num_test=8, seed=3, num_cls_extra=12)
    for dirpath, _, files in os.walk(osp.join(toy, 'VOC2007')):
        for f in files:
            rel = osp.relpath(osp.join(dirpath, f), toy)
            assert filecmp.cmp(osp.join(toy, rel), osp.join(out, rel), shallow=False), rel
    assert sorted(os.listdir(osp.join(out, 'VOC2007/JPEGImages'))) == sorted(
        os.listdir(osp.join(toy, 'VOC2007/JPEGImages'))
    )

    def lines(root, split):
        with open(osp.join(root, 'classification/meta', f'{split}.txt')) as f:
            return f.read().split('\n')[:-1]

    for split in ('val', 'test'):
        assert lines(out, split) == lines(toy, split)
        for rel in (line.split()[0] for line in lines(toy, split)):
            a, b = (osp.join(r, 'classification', split, rel) for r in (toy, out))
            assert filecmp.cmp(a, b, shallow=False), rel
    base, more = lines(toy, 'train'), lines(out, 'train')
    added = more[len(base) :]
    assert more[: len(base)] == base and len(added) >= 12  # about 1.9 crops per image
    names = {line.split()[0].split('/')[1].split('_')[0] for line in added}
    assert names <= {f'x{i:06d}' for i in range(1, 13)} and len(names) >= 6
    classes = [n for n, _ in TOY_CLASSES]
    for line in added:
        rel, label = line.split()
        assert rel.split('/')[0] == classes[int(label)]  # train/<class>/ as ImageNet's layout
        assert Image.open(osp.join(out, 'classification/train', rel)).size == (64, 64)
    assert read_stamp(out)['num_cls_extra'] == 12 and read_stamp(toy)['num_cls_extra'] == 0
