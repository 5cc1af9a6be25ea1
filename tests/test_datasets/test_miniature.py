"""The miniature real-layout trees carry the real datasets' quirks, and never replace a folder
the generator did not write."""

import json
import os

import pytest

from ela_mm.datasets.miniature import COCO_IDS, generate_miniature


def test_layouts_and_quirks(tmp_path):
    roots = generate_miniature(str(tmp_path), per_split=1)
    coco = json.load(open(f'{roots["coco"]}/annotations/instances_val2017.json'))
    assert [c['id'] for c in coco['categories']] == COCO_IDS and len(COCO_IDS) == 80
    assert COCO_IDS[-1] == 90 and 12 not in COCO_IDS
    crowd = [a for a in coco['annotations'] if a['iscrowd']]
    assert crowd and isinstance(crowd[0]['segmentation']['counts'], list)
    annotated = {a['image_id'] for a in coco['annotations']}
    assert any(i['id'] not in annotated for i in coco['images'])  # an image without any
    assert all(os.path.isfile(f'{roots["coco"]}/val2017/{i["file_name"]}') for i in coco['images'])
    xml = ''.join(
        open(f'{roots["voc0712"]}/VOC2007/Annotations/{f}').read()
        for f in os.listdir(f'{roots["voc0712"]}/VOC2007/Annotations')
    )
    assert '<part>' in xml and '.0</xmin>' in xml  # part boxes, float coordinates
    assert os.listdir(f'{roots["voc12aug"]}/SegmentationClassAug')
    val = open(f'{roots["imagenet"]}/meta/val.txt').read().split('\n')[0].split()
    assert val[0].startswith('ILSVRC2012_val_') and val[0].endswith('.JPEG')
    assert os.path.isfile(f'{roots["imagenet"]}/val/{val[0]}')  # flat val folder


def test_a_folder_it_did_not_write_is_left_alone(tmp_path):
    (tmp_path / 'coco').mkdir()
    (tmp_path / 'coco' / 'mine.json').write_text('{}')
    with pytest.raises(FileExistsError, match='not written by the miniature generator'):
        generate_miniature(str(tmp_path), trees=['coco'])
    assert (tmp_path / 'coco' / 'mine.json').exists()
