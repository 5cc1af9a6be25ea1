"""A small synthetic dataset in the Pascal VOC layout, generated deterministically from a seed.

It lets the whole workflow (train, test, mAP/mIoU, visualisation) run on any machine in minutes,
read by the UNCHANGED upstream classes: mmdet ``VOCDataset`` + ``VOCMetric`` and mmseg
``PascalVOCDataset`` + ``IoUMetric``. Layout (as VOC's)::

    <out>/VOC2007/JPEGImages/000001.jpg
    <out>/VOC2007/Annotations/000001.xml           boxes, 'difficult' flags, image size
    <out>/VOC2007/SegmentationClass/000001.png     palette PNG, VOC class indices, 255 borders
    <out>/VOC2007/ImageSets/Main/{train,val,trainval,test}.txt   disjoint train / val / test
    <out>/VOC2007/ImageSets/Segmentation/{train,val,trainval,test}.txt
    <out>/toy_voc.json                              what it was generated with (the stamp)
    <out>/classification/{train/<class>,val,test}/*.JPEG, meta/{train,val,test}.txt
                                                    object crops, ImageNet's layout (mmpretrain)

The classification crops of ``val`` and ``test`` are cut from the VOC val and test images; those
of ``train`` from the VOC train images and from ``num_cls_extra`` more images drawn the same way
(from a random stream of their own, so the VOC images do not change with it) that are written as
crops only (``train/<class>/x000001_0.JPEG``).

The objects are three shape classes stored under VOC class names (so that mmseg's
``PascalVOCDataset``, which only accepts a subset of VOC's classes, reads them): a filled
triangle is ``aeroplane``, a ring is ``bicycle`` and a filled ellipse is ``bird``. Colour is drawn
independently of the class, sizes range from 1/10 to 1/2.5 of the image, objects overlap (later
ones occlude earlier ones; mostly hidden or tiny objects are marked difficult), and every
background is a random gradient with distractor strokes and blobs in object colours, so that the
task needs shape and localisation, not colour.
"""

import json
import os
import os.path as osp
import random
import shutil
from typing import List, Optional, Tuple
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: (VOC class name, shape) of the toy classes; VOC index = position in VOC_CLASSES
TOY_CLASSES = (('aeroplane', 'triangle'), ('bicycle', 'ring'), ('bird', 'ellipse'))
VOC_CLASSES = (
    'background',
    'aeroplane',
    'bicycle',
    'bird',
    'boat',
    'bottle',
    'bus',
    'car',
    'cat',
    'chair',
    'cow',
    'diningtable',
    'dog',
    'horse',
    'person',
    'pottedplant',
    'sheep',
    'sofa',
    'train',
    'tvmonitor',
)
BORDER = 255  # VOC marks object outlines as 'ignore'


def voc_palette() -> List[int]:
    """The 256-entry VOC colour map (bit-interleaved), as a flat list for ``Image.putpalette``."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


#: drawing colours of the toy classes (the PNG masks keep the VOC palette, whose colours for
#: these classes are too dark to see in drawings); background stays black
TOY_COLOURS = {
    'background': (0, 0, 0),
    'aeroplane': (255, 64, 64),
    'bicycle': (64, 224, 64),
    'bird': (255, 208, 32),
}


def toy_metainfo(segmentation: bool = False) -> dict:
    """metainfo for the upstream dataset classes: the toy classes (plus 'background' for
    segmentation) and bright drawing colours (``TOY_COLOURS``); the one source the toy configs
    take them from."""
    names = [n for n, _ in TOY_CLASSES]
    if segmentation:
        names = ['background'] + names
    return dict(classes=tuple(names), palette=[TOY_COLOURS[n] for n in names])


def _shape_mask(
    shape: str, size: Tuple[int, int], box: Tuple[int, int, int, int], rng: random.Random
) -> Image.Image:
    m = Image.new('L', size, 0)
    d = ImageDraw.Draw(m)
    x0, y0, x1, y1 = box
    if shape == 'triangle':  # apex on one side of the box, base along the opposite side
        side = rng.randrange(4)
        if side == 0:
            pts = [(rng.uniform(x0, x1), y0), (x1, y1), (x0, y1)]
        elif side == 1:
            pts = [(rng.uniform(x0, x1), y1), (x1, y0), (x0, y0)]
        elif side == 2:
            pts = [(x0, rng.uniform(y0, y1)), (x1, y0), (x1, y1)]
        else:
            pts = [(x1, rng.uniform(y0, y1)), (x0, y0), (x0, y1)]
        d.polygon(pts, fill=255)
    elif shape == 'ring':
        d.ellipse(box, fill=255)
        t = max(2, int(min(x1 - x0, y1 - y0) * rng.uniform(0.18, 0.3)))
        d.ellipse((x0 + t, y0 + t, x1 - t, y1 - t), fill=0)
    else:
        d.ellipse(box, fill=255)
    return m


def _background(rng: random.Random, w: int, h: int) -> Image.Image:
    a = np.array([rng.randrange(256) for _ in range(3)], np.float32)
    b = np.array([rng.randrange(256) for _ in range(3)], np.float32)
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
    grad = a + (b - a) * t[:, None]
    img = np.broadcast_to(grad[None] if len(t) == w else grad[:, None], (h, w, 3)).copy()
    noise = np.random.default_rng(rng.randrange(2**31)).normal(0, 12, (h, w, 3))
    im = Image.fromarray(np.clip(img + noise, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(rng.randint(3, 8)):  # distractors: strokes and small blobs, any colour
        col = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.6:
            d.line(
                [(rng.randrange(w), rng.randrange(h)) for _ in range(rng.randint(2, 4))],
                fill=col,
                width=rng.randint(1, 3),
            )
        else:
            r = rng.randint(2, max(3, min(w, h) // 14))
            cx, cy = rng.randrange(w), rng.randrange(h)
            d.rectangle((cx - r, cy - r, cx + r, cy + r), fill=col)
    return im


def _write_xml(path: str, name: str, w: int, h: int, objects: list) -> None:
    root = ET.Element('annotation')
    ET.SubElement(root, 'folder').text = 'VOC2007'
    ET.SubElement(root, 'filename').text = f'{name}.jpg'
    size = ET.SubElement(root, 'size')
    for k, v in (('width', w), ('height', h), ('depth', 3)):
        ET.SubElement(size, k).text = str(v)
    ET.SubElement(root, 'segmented').text = '1'
    for cls, (x0, y0, x1, y1), difficult in objects:
        o = ET.SubElement(root, 'object')
        ET.SubElement(o, 'name').text = cls
        ET.SubElement(o, 'pose').text = 'Unspecified'
        ET.SubElement(o, 'truncated').text = '0'
        ET.SubElement(o, 'difficult').text = str(int(difficult))
        bb = ET.SubElement(o, 'bndbox')
        for k, v in zip(('xmin', 'ymin', 'xmax', 'ymax'), (x0, y0, x1, y1)):
            ET.SubElement(bb, k).text = str(v)
    ET.ElementTree(root).write(path)


def draw_image(rng: random.Random) -> Tuple[Image.Image, np.ndarray, list]:
    """Draw one toy image: ``(image, class-index mask, objects)``, the objects as ``(class, box,
    difficult, visible fraction)``."""
    w, h = rng.randint(144, 208), rng.randint(128, 192)
    img = _background(rng, w, h)
    label = np.zeros((h, w), np.uint8)
    owners = np.full((h, w), -1, np.int16)
    placed = []
    for k in range(rng.randint(1, 4)):
        cls, shape = TOY_CLASSES[rng.randrange(len(TOY_CLASSES))]
        s = min(w, h)
        bw = int(s * rng.uniform(0.1, 0.4) * rng.uniform(0.8, 1.25))
        bh = int(s * rng.uniform(0.1, 0.4) * rng.uniform(0.8, 1.25))
        x0, y0 = rng.randint(0, w - bw - 1), rng.randint(0, h - bh - 1)
        mask = np.array(_shape_mask(shape, (w, h), (x0, y0, x0 + bw, y0 + bh), rng)) > 127
        if not mask.any():
            continue
        colour = tuple(rng.randrange(256) for _ in range(3))
        shade = Image.new('RGB', (w, h), colour)
        img.paste(shade, (0, 0), Image.fromarray((mask * 255).astype(np.uint8)))
        label[mask] = VOC_CLASSES.index(cls)
        owners[mask] = k
        placed.append((cls, mask))
    objects = []
    outline = np.zeros((h, w), bool)
    for k, (cls, mask) in enumerate(placed):
        ys, xs = np.nonzero(mask)
        visible = (owners == k).sum() / max(mask.sum(), 1)
        box = (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)
        objects.append((cls, box, visible < 0.35 or mask.sum() < 64, visible))
        m = Image.fromarray(((owners == k) * 255).astype(np.uint8))
        edge = (np.array(m.filter(ImageFilter.MaxFilter(5))) > 0) & ~(
            np.array(m.filter(ImageFilter.MinFilter(5))) > 0
        )
        outline |= edge
    label[outline] = BORDER
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    return img, label, objects


def make_image(rng: random.Random, name: str, root: str) -> Tuple[Image.Image, list]:
    """Draw one toy image and write it with its annotation and mask under ``root``; returns
    the image and its objects as ``(class, box, difficult, visible fraction)``."""
    img, label, objects = draw_image(rng)
    w, h = img.size
    img.save(osp.join(root, 'JPEGImages', f'{name}.jpg'), quality=92)
    seg = Image.fromarray(label, mode='P')
    seg.putpalette(voc_palette())
    seg.save(osp.join(root, 'SegmentationClass', f'{name}.png'))
    _write_xml(osp.join(root, 'Annotations', f'{name}.xml'), name, w, h, [o[:3] for o in objects])
    return img, objects


#: side of the classification crops (tools/misc/make_toy_voc.py writes them beside VOC2007)
CROP_SIZE = 64


#: a crop is written only where the other objects' boxes cover at most this share of it
MAX_OTHERS_IN_CROP = 0.2


def _overlap(a: Tuple[int, int, int, int], b: Tuple[int, int, int, int]) -> int:
    """The area of the intersection of two ``(x0, y0, x1, y1)`` boxes."""
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def write_crops(
    img: Image.Image, objects: list, name: str, cls_root: str, split: str, lines: list
) -> None:
    """The classification set: every clearly visible object (at least 60% unoccluded, not
    difficult) that dominates its crop (the other objects' boxes cover at most
    ``MAX_OTHERS_IN_CROP`` of it: one label per crop, as in ImageNet) cut out square with a
    margin of context, resized to ``CROP_SIZE``, in ImageNet's layout:
    ``train/<class>/<image>_<k>.JPEG`` and flat ``val/``, ``test/`` folders, with
    ``meta/<split>.txt`` lines '<path under the split folder> <label>'."""
    classes = [n for n, _ in TOY_CLASSES]
    w, h = img.size
    for k, (cls, (x0, y0, x1, y1), difficult, visible) in enumerate(objects):
        if difficult or visible < 0.6:
            continue
        side = int(max(x1 - x0, y1 - y0) * 1.3) + 2
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
        others = max((_overlap(box, o[1]) for j, o in enumerate(objects) if j != k), default=0)
        if others > MAX_OTHERS_IN_CROP * side * side:
            continue
        crop = img.crop(box).resize((CROP_SIZE, CROP_SIZE), Image.BILINEAR)  # outside: black
        rel = f'{cls}/{name}_{k}.JPEG' if split == 'train' else f'{name}_{k}.JPEG'
        os.makedirs(osp.dirname(osp.join(cls_root, split, rel)), exist_ok=True)
        crop.save(osp.join(cls_root, split, rel), quality=92)
        lines.append(f'{rel} {classes.index(cls)}')


#: bump when the generator's VOC images, boxes or masks change: the stamp tells a stale toy set
#: from a current one (detection and segmentation results measured on another are stale)
GENERATOR_VERSION = 2
#: bump when only the classification crops change (classification results go stale, the
#: detection and segmentation ones stay current)
CROPS_VERSION = 3
#: images drawn for the classification training crops alone in the published set (about 1.9
#: crops each: with the VOC train images' crops, 10,965 training crops)
NUM_CLS_EXTRA = 4200
STAMP = 'toy_voc.json'
#: the split sizes of the published toy set (``make_toy_voc.py`` and the demos use these);
#: ``num_cls_extra``: images drawn for classification training crops only
DEFAULT_SPLITS = dict(num_train=1600, num_val=160, num_test=240, num_cls_extra=NUM_CLS_EXTRA)
#: the stamp keys that concern the classification crops alone (a detection or segmentation
#: config's recorded stamp leaves them out: they do not change what it reads)
CROPS_KEYS = ('crops_version', 'num_cls_extra')


def stamp_of(
    num_train: int, num_val: int, num_test: int, seed: int, num_cls_extra: int = 0
) -> dict:
    """What a toy set was generated with (written to ``<out>/toy_voc.json``)."""
    return dict(
        generator_version=GENERATOR_VERSION,
        crops_version=CROPS_VERSION,
        seed=seed,
        num_train=num_train,
        num_val=num_val,
        num_test=num_test,
        num_cls_extra=num_cls_extra,
    )


def read_stamp(out: str) -> Optional[dict]:
    """The stamp of the toy set under ``out``, or ``None`` where there is none."""
    path = osp.join(out, STAMP)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _is_earlier_toy_set(root: str) -> bool:
    """A toy set of the first generator (no stamp): its val list was its test list and its
    annotations name toy classes only."""
    main = osp.join(root, 'ImageSets', 'Main')
    try:
        with open(osp.join(main, 'val.txt')) as f, open(osp.join(main, 'test.txt')) as g:
            val, test = f.read().split(), g.read().split()
        first = ET.parse(osp.join(root, 'Annotations', f'{test[0]}.xml')).getroot()
    except (OSError, IndexError, ET.ParseError):
        return False
    names = {o.findtext('name') for o in first.iter('object')}
    return val == test and names <= {n for n, _ in TOY_CLASSES}


def generate(
    out: str,
    num_train: int = DEFAULT_SPLITS['num_train'],
    num_test: int = DEFAULT_SPLITS['num_test'],
    seed: int = 0,
    num_val: Optional[int] = None,
    num_cls_extra: int = 0,
) -> str:
    """Write the toy dataset under ``out`` (its VOC2007 folder) and return that folder.

    The splits are disjoint: ``train`` (``num_train`` images), ``val`` (``num_val``; by default
    ``num_test // 2`` rounded up, at least one where there are test images) and ``test``;
    ``trainval`` is train + val. ``num_cls_extra`` more images give classification training
    crops only (none by default; the published set has ``DEFAULT_SPLITS['num_cls_extra']``). A
    toy set written earlier into ``out`` (it has a stamp,
    ``toy_voc.json``) is removed first; a ``VOC2007`` folder without a stamp is not ours, and the
    call stops rather than mix the two.
    """
    if num_val is None:
        num_val = (num_test + 1) // 2
    root, cls_root = osp.join(out, 'VOC2007'), osp.join(out, 'classification')
    ours = read_stamp(out) is not None or _is_earlier_toy_set(root)
    for folder in (root, cls_root):
        if osp.isdir(folder) and not ours:
            raise FileExistsError(
                f'{folder} exists and was not written by the toy generator (no {STAMP} beside '
                f'it): choose another --out, or remove that folder yourself'
            )
    for folder in (root, cls_root):
        if osp.isdir(folder):
            shutil.rmtree(folder)
    for sub in (
        'JPEGImages',
        'Annotations',
        'SegmentationClass',
        'ImageSets/Main',
        'ImageSets/Segmentation',
    ):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    os.makedirs(osp.join(cls_root, 'meta'))
    rng = random.Random(seed)
    names = [f'{i:06d}' for i in range(1, num_train + num_val + num_test + 1)]
    crops = dict(train=[], val=[], test=[])
    for i, name in enumerate(names):
        img, objects = make_image(rng, name, root)
        split = 'train' if i < num_train else 'val' if i < num_train + num_val else 'test'
        write_crops(img, objects, name, cls_root, split, crops[split])
    extra = random.Random(f'toy-classification-{seed}')  # its own stream: the VOC images stay
    for i in range(num_cls_extra):
        img, _, objects = draw_image(extra)
        write_crops(img, objects, f'x{i + 1:06d}', cls_root, 'train', crops['train'])
    for split, lines in crops.items():
        with open(osp.join(cls_root, 'meta', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + ('\n' if lines else ''))
    train = names[:num_train]
    val = names[num_train : num_train + num_val]
    test = names[num_train + num_val :]
    splits = {
        'Main': dict(train=train, val=val, trainval=train + val, test=test),
        'Segmentation': dict(train=train, val=val, trainval=train + val, test=test),
    }
    for folder, sets in splits.items():
        for split, ids in sets.items():
            with open(osp.join(root, 'ImageSets', folder, f'{split}.txt'), 'w') as f:
                f.write('\n'.join(ids) + ('\n' if ids else ''))
    with open(osp.join(out, STAMP), 'w') as f:
        json.dump(stamp_of(num_train, num_val, num_test, seed, num_cls_extra), f, indent=2)
    return root
