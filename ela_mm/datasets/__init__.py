"""Data that ela_mm ships: the generated toy dataset in the Pascal VOC layout."""

from .toy_voc import TOY_CLASSES, generate, toy_metainfo

__all__ = ['TOY_CLASSES', 'generate', 'toy_metainfo']
