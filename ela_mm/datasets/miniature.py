"""Miniature copies of the real datasets, laid out exactly as the shipped configs read them, to
smoke-test a config (its datasets, pipelines, evaluator and the tools) before a long run.

Images and boxes come from the toy generator (:func:`ela_mm.datasets.toy_voc.make_image`), a few
per split, written in the real layouts and formats with the real datasets' quirks::

    <out>/VOCdevkit/VOC2007/{JPEGImages,Annotations,SegmentationClass}, ImageSets/Main/
              {train,val,trainval,test}.txt       Pascal VOC 07+12 detection (VOC2007 test)
    <out>/VOCdevkit/VOC2012/... ImageSets/Main/{train,val,trainval}.txt, ImageSets/Segmentation/
              {train,val,trainval,aug}.txt, SegmentationClass/ (palette PNG, 255 borders),
              SegmentationClassAug/ (SBD converted by mmseg's voc_aug.py: grey PNG, no borders)
    <out>/coco/annotations/instances_{train,val}2017.json, {train,val}2017/000000xxxxxx.jpg
    <out>/imagenet/train/<wnid>/<wnid>_<n>.JPEG, val/ILSVRC2012_val_000000xx.JPEG (flat),
              meta/{train,val}.txt

Quirks kept: VOC coordinates written as floats in some files (``48.0``), ``<part>`` boxes inside
``<object>`` (as VOC's person layout), ``truncated``/``occluded``/``difficult`` flags, 2012-style
ids (``2008_000002``); COCO's 80 categories with their real ids (1-90 with gaps), float boxes,
polygon segmentations, a crowd annotation in run-length encoding (uncompressed ``counts``) and an
image without annotations in each split; ImageNet's ``.JPEG`` files, class folders named by
WordNet id and a flat val folder with labels in ``meta/val.txt``.

    python tools/misc/make_miniature.py --out data/mini        # all four trees
    python -m ela_mm.datasets.miniature --out data/mini        # the same, from an install
    python tools/train.py CONFIG --data-root data/mini/coco --schedule 2e --work-dir w
"""

import json
import os
import os.path as osp
import random
import shutil
from typing import Dict, Iterable, List, Tuple
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from .toy_voc import TOY_CLASSES, make_image

#: what the trees are called and where each is written under ``out``; --data-root for each
TREES = {
    'voc0712': 'VOCdevkit',  # detection configs: --data-root <out>/VOCdevkit
    'voc12aug': 'VOCdevkit/VOC2012',  # segmentation configs: --data-root <out>/VOCdevkit/VOC2012
    'coco': 'coco',
    'imagenet': 'imagenet',
}
#: COCO 2017's category ids, in the order of mmdet's CocoDataset classes
COCO_IDS = (
    list(range(1, 12))
    + list(range(13, 26))
    + [27, 28]
    + list(range(31, 45))
    + list(range(46, 66))
    + [67, 70]
    + list(range(72, 83))
    + list(range(84, 91))
)
#: the toy classes as COCO categories and ImageNet classes (label, WordNet id)
TOY_TO_COCO = {'aeroplane': 'airplane', 'bicycle': 'bicycle', 'bird': 'bird'}
TOY_TO_IMAGENET = {
    'aeroplane': (404, 'n02690373'),
    'bicycle': (444, 'n02835271'),
    'bird': (
        11,
        'n01531178',
    ),
}


class _Images:
    """Toy images drawn one after another from one seed, staged in a scratch folder."""

    def __init__(self, out: str, seed: int):
        self.rng = random.Random(seed)
        self.stage = osp.join(out, '.miniature_stage')
        for sub in ('JPEGImages', 'Annotations', 'SegmentationClass'):
            os.makedirs(osp.join(self.stage, sub), exist_ok=True)
        self.n = 0

    def draw(self) -> Tuple[str, Image.Image, list]:
        """(staged name, image, objects as (class, box, difficult, visible))."""
        self.n += 1
        name = f'{self.n:06d}'
        img, objects = make_image(self.rng, name, self.stage)
        return name, img, objects

    def path(self, name: str, kind: str) -> str:
        sub, ext = {'img': ('JPEGImages', 'jpg'), 'mask': ('SegmentationClass', 'png')}[kind]
        return osp.join(self.stage, sub, f'{name}.{ext}')

    def close(self):
        shutil.rmtree(self.stage, ignore_errors=True)


def _write_lines(path: str, lines: Iterable[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    lines = list(lines)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + ('\n' if lines else ''))


def _voc_xml(path: str, year: str, name: str, img: Image.Image, objects: list, k: int) -> None:
    """A VOC annotation with the real files' variations: float coordinates (every other file),
    a ``<part>`` box inside the first object (VOC's person layout), truncated / occluded /
    difficult flags, ``<source>`` and ``<segmented>``."""
    w, h = img.size
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = f'VOC{year}'
    ET.SubElement(root, 'filename').text = f'{name}.jpg'
    src = ET.SubElement(root, 'source')
    ET.SubElement(src, 'database').text = f'The VOC{year} Database'
    size = ET.SubElement(root, 'size')
    for key, v in (('width', w), ('height', h), ('depth', 3)):
        ET.SubElement(size, key).text = str(v)
    ET.SubElement(root, 'segmented').text = '1'
    fmt = (lambda v: f'{float(v):.1f}') if k % 2 else str
    for i, (cls, (x0, y0, x1, y1), difficult, _) in enumerate(objects):
        o = ET.SubElement(root, 'object')
        ET.SubElement(o, 'name').text = cls
        ET.SubElement(o, 'pose').text = 'Unspecified'
        ET.SubElement(o, 'truncated').text = str(int(x0 <= 1 or y0 <= 1 or x1 >= w or y1 >= h))
        ET.SubElement(o, 'occluded').text = '0'
        ET.SubElement(o, 'difficult').text = str(int(difficult))
        bb = ET.SubElement(o, 'bndbox')
        for key, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x0, y0, x1, y1)):
            ET.SubElement(bb, key).text = fmt(v)
        if i == 0:  # a part box after the object's own: readers must take the object's
            part = ET.SubElement(o, 'part')
            ET.SubElement(part, 'name').text = 'head'
            pb = ET.SubElement(part, 'bndbox')
            half = ((x0 + x1) // 2, (y0 + y1) // 2)
            for key, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x0, y0, *half)):
                ET.SubElement(pb, key).text = fmt(v)
    ET.ElementTree(root).write(path)


def write_voc0712(out: str, images: _Images, per_split: int = 2) -> str:
    """``<out>/VOCdevkit``: VOC2007 (train, val, test) and VOC2012 (train, val) for detection,
    VOC2012 also with segmentation masks and the SBD aug set (see the module docstring)."""
    devkit = osp.join(out, 'VOCdevkit')
    for year, splits in (('2007', ('train', 'val', 'test')), ('2012', ('train', 'val', 'aug'))):
        root = osp.join(devkit, f'VOC{year}')
        for sub in ('JPEGImages', 'Annotations', 'SegmentationClass', 'SegmentationClassAug'):
            if year == '2012' or sub != 'SegmentationClassAug':
                os.makedirs(osp.join(root, sub), exist_ok=True)
        ids: Dict[str, List[str]] = {}
        for split in splits:
            ids[split] = []
            for _ in range(per_split):
                staged, img, objects = images.draw()
                k = images.n
                name = f'{k:06d}' if year == '2007' else f'2008_{k:06d}'
                shutil.copy(images.path(staged, 'img'), osp.join(root, 'JPEGImages', f'{name}.jpg'))
                _voc_xml(osp.join(root, 'Annotations', f'{name}.xml'), year, name, img, objects, k)
                mask = Image.open(images.path(staged, 'mask'))
                if split != 'aug':
                    mask.save(osp.join(root, 'SegmentationClass', f'{name}.png'))
                if year == '2012':  # SBD's masks, converted: class indices, no 255 borders
                    label = np.array(mask)
                    label[label == 255] = 0
                    Image.fromarray(label, mode='L').save(
                        osp.join(root, 'SegmentationClassAug', f'{name}.png')
                    )
                ids[split].append(name)
        main = dict(train=ids['train'], val=ids['val'], trainval=ids['train'] + ids['val'])
        if year == '2007':
            main['test'] = ids['test']
        for split, names in main.items():
            _write_lines(osp.join(root, 'ImageSets', 'Main', f'{split}.txt'), names)
        if year == '2012':
            seg = dict(main, aug=ids['aug'] + ids['train'])  # voc_aug.py: SBD + train - val
            for split, names in seg.items():
                _write_lines(osp.join(root, 'ImageSets', 'Segmentation', f'{split}.txt'), names)
    return devkit


def _rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed run-length encoding of a binary mask (column-major, from 0s)."""
    flat = mask.flatten(order='F').astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return dict(counts=counts, size=list(mask.shape))


def write_coco(out: str, images: _Images, per_split: int = 2) -> str:
    """``<out>/coco``: COCO 2017 instances (see the module docstring)."""
    from mmdet.datasets import CocoDataset

    root = osp.join(out, 'coco')
    names = CocoDataset.METAINFO['classes']
    cat_id = dict(zip(names, COCO_IDS))
    categories = [dict(id=i, name=n, supercategory='object') for n, i in zip(names, COCO_IDS)]
    ann_id = 0
    for s, split in enumerate(('train2017', 'val2017')):
        os.makedirs(osp.join(root, split), exist_ok=True)
        imgs, anns = [], []
        for k in range(per_split + 1):
            staged, img, objects = images.draw()
            image_id = 100000 * (s + 1) + images.n
            file_name = f'{image_id:012d}.jpg'
            shutil.copy(images.path(staged, 'img'), osp.join(root, split, file_name))
            w, h = img.size
            imgs.append(
                dict(
                    id=image_id,
                    file_name=file_name,
                    width=w,
                    height=h,
                    license=1,
                    coco_url=f'http://images.cocodataset.org/{split}/{file_name}',
                    flickr_url='',
                    date_captured='2013-11-14 11:18:45',
                )
            )
            if k == per_split:  # an image without annotations
                continue
            for i, (cls, (x0, y0, x1, y1), _, _) in enumerate(objects):
                x, y, bw, bh = x0 - 0.5, y0 - 0.5, float(x1 - x0 + 1), float(y1 - y0 + 1)
                ann_id += 1
                ann = dict(
                    id=ann_id,
                    image_id=image_id,
                    category_id=cat_id[TOY_TO_COCO[cls]],
                    bbox=[round(v, 2) for v in (x, y, bw, bh)],
                    area=round(bw * bh * 0.8, 2),
                    iscrowd=0,
                    segmentation=[[x, y, x + bw, y, x + bw, y + bh, x, y + bh]],
                )
                if i == len(objects) - 1 and k == 0:  # a crowd region in RLE
                    m = np.zeros((h, w), np.uint8)
                    m[y0 - 1 : y1, x0 - 1 : x1] = 1
                    ann.update(iscrowd=1, segmentation=_rle(m), area=float(m.sum()))
                anns.append(ann)
        doc = dict(
            info=dict(description='ela_mm miniature COCO 2017', version='1.0', year=2017),
            licenses=[dict(id=1, name='Attribution License', url='')],
            images=imgs,
            annotations=anns,
            categories=categories,
        )
        os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
        with open(osp.join(root, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(doc, f)
    return root


def write_imagenet(out: str, images: _Images, per_split: int = 2) -> str:
    """``<out>/imagenet``: ImageNet-1k in mmpretrain's layout (see the module docstring): one
    object crop per toy image, resized to 80 px (a real photo's label, the toy object's class)."""
    root = osp.join(out, 'imagenet')
    lines = dict(train=[], val=[])
    n_val = 0
    for split in ('train', 'val'):
        for _ in range(per_split * len(TOY_CLASSES)):
            _, img, objects = images.draw()
            cls, (x0, y0, x1, y1), _, _ = max(objects, key=lambda o: o[3])
            label, wnid = TOY_TO_IMAGENET[cls]
            crop = img.crop((x0 - 4, y0 - 4, x1 + 4, y1 + 4)).resize((80, 80))
            if split == 'train':
                rel = f'{wnid}/{wnid}_{images.n}.JPEG'
            else:
                n_val += 1
                rel = f'ILSVRC2012_val_{n_val:08d}.JPEG'
            os.makedirs(osp.dirname(osp.join(root, split, rel)), exist_ok=True)
            crop.save(osp.join(root, split, rel), format='JPEG', quality=90)
            lines[split].append(f'{rel} {label}')
    for split, ls in lines.items():
        _write_lines(osp.join(root, 'meta', f'{split}.txt'), ls)
    return root


WRITERS = {'voc0712': write_voc0712, 'coco': write_coco, 'imagenet': write_imagenet}


def generate_miniature(
    out: str, trees: Iterable[str] = ('voc0712', 'coco', 'imagenet'), per_split: int = 2, seed=0
) -> Dict[str, str]:
    """Write the miniature trees under ``out`` and return ``{tree: --data-root to pass}``:
    ``voc0712`` (which also holds ``voc12aug``, the VOC 2012 + SBD segmentation set), ``coco``,
    ``imagenet``. ``per_split`` images per split (ImageNet: per class). Deterministic from
    ``seed``; a tree already under ``out`` is replaced."""
    trees = list(trees)
    unknown = set(trees) - set(TREES)
    if unknown:
        raise ValueError(f'unknown miniature trees {sorted(unknown)}; known: {sorted(TREES)}')
    trees = [t if t != 'voc12aug' else 'voc0712' for t in trees]  # one VOCdevkit holds both
    trees = list(dict.fromkeys(trees))
    stamp = osp.join(out, STAMP)
    ours = osp.isfile(stamp)
    for tree in WRITERS:
        target = osp.join(out, TREES[tree])
        if tree in trees and osp.isdir(target) and not ours:
            raise FileExistsError(
                f'{target} exists and was not written by the miniature generator (no {STAMP} '
                f'in {out}): choose another --out, or remove that folder yourself'
            )
    os.makedirs(out, exist_ok=True)
    images = _Images(out, seed)
    try:
        for tree in WRITERS:
            if tree in trees:
                target = osp.join(out, TREES[tree])
                if osp.isdir(target):
                    shutil.rmtree(target)
                WRITERS[tree](out, images, per_split)
    finally:
        images.close()
    with open(stamp, 'w') as f:
        json.dump(dict(trees=trees, per_split=per_split, seed=seed), f)
    roots = {t: osp.join(out, TREES[t]) for t in trees}
    if 'voc0712' in trees:
        roots['voc12aug'] = osp.join(out, TREES['voc12aug'])
    return roots


#: written beside the trees: a folder holding it was written by this generator (and may be
#: replaced by it); real datasets under an --out without it are never touched
STAMP = 'miniature.json'
#: which config reads which tree, by the config file's ending (what --data-root to pass)
CONFIG_TREES = {
    '_coco.py': 'coco',
    '_voc0712.py': 'voc0712',
    'voc12aug-512x512.py': 'voc12aug',
    '_in1k.py': 'imagenet',
}


def main(argv=None) -> None:
    """``python -m ela_mm.datasets.miniature``: the command line of
    ``tools/misc/make_miniature.py`` (shipped under ``ela_mm/.mim/tools``), run from here."""
    import runpy
    import sys

    tool = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'tools', 'misc')
    sys.argv = [osp.join(tool, 'make_miniature.py'), *(sys.argv[1:] if argv is None else argv)]
    runpy.run_path(sys.argv[0], run_name='__main__')


if __name__ == '__main__':
    main()
