"""Backbones that take attention plugins, registered in their own library's registry."""
from .csp_darknet import PluginCSPDarknet
from .mmpretrain_backbones import AttnMobileNetV2, AttnResNet
from .resnet_seg import PluginResNetV1c

__all__ = ['PluginCSPDarknet', 'PluginResNetV1c', 'AttnResNet', 'AttnMobileNetV2']
