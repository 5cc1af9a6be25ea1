"""Data that ela_mm generates: the toy dataset (``toy_voc``: the Pascal VOC layout and object
crops in ImageNet's) and miniature copies of the real datasets' layouts (``miniature``)."""

from .toy_voc import TOY_CLASSES, generate, toy_metainfo

__all__ = ['TOY_CLASSES', 'generate', 'toy_metainfo']
