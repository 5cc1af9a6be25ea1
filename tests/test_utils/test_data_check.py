"""The data check names the missing path (root, annotation file, image folder) and the fix."""

import os

import pytest
from mmengine.config import Config

from ela_mm.utils.data_check import check_data


def _cfg(root, ann='VOC2007/ImageSets/Main/test.txt', prefix=None, wrapped=False):
    ds = dict(
        type='VOCDataset',
        data_root=root,
        ann_file=ann,
        data_prefix=prefix or dict(sub_data_root='VOC2007/'),
    )
    if wrapped:  # as YOLOX's train set: MultiImageMixDataset -> ConcatDataset -> VOCDataset
        ds = dict(type='MultiImageMixDataset', dataset=dict(type='ConcatDataset', datasets=[ds]))
    return Config(dict(test_dataloader=dict(dataset=ds)))


@pytest.fixture
def voc(tmp_path):
    root = tmp_path / 'toy'
    (root / 'VOC2007' / 'ImageSets' / 'Main').mkdir(parents=True)
    (root / 'VOC2007' / 'ImageSets' / 'Main' / 'test.txt').write_text('000001\n')
    return str(root)


@pytest.mark.parametrize('wrapped', [False, True])
def test_complete_data_passes(voc, wrapped):
    check_data(_cfg(voc, wrapped=wrapped))


@pytest.mark.parametrize('wrapped', [False, True])
def test_missing_annotation_file(voc, wrapped):
    os.remove(os.path.join(voc, 'VOC2007/ImageSets/Main/test.txt'))
    with pytest.raises(
        FileNotFoundError,
        match=r"dataset path '.*VOC2007/ImageSets/Main/"
        r"test.txt' does not exist",
    ):
        check_data(_cfg(voc, wrapped=wrapped))


def test_missing_image_folder(voc):
    with pytest.raises(FileNotFoundError, match=r"dataset path '.*/toy/JPEGImages' does not"):
        check_data(
            _cfg(voc, ann='VOC2007/ImageSets/Main/test.txt', prefix=dict(img_path='JPEGImages'))
        )


def test_missing_root_names_the_generator(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"toy_voc' does not exist.*make_toy_voc.py"):
        check_data(_cfg(str(tmp_path / 'data/toy_voc/')))


def test_only_the_named_loaders_are_checked(voc, tmp_path):
    cfg = _cfg(voc)
    cfg.train_dataloader = dict(dataset=dict(type='VOCDataset', data_root=str(tmp_path / 'x')))
    check_data(cfg, ['test_dataloader'])
    with pytest.raises(FileNotFoundError):
        check_data(cfg, ['train_dataloader'])
