"""Backbones that take attention modules, each registered in its own library's registry and
named after the upstream class it extends."""

from .attn_mobilenet_v2 import AttnMobileNetV2
from .attn_resnet import AttnResNet
from .plugin_csp_darknet import PluginCSPDarknet
from .plugin_resnet_v1c import PluginResNetV1c

__all__ = ['PluginCSPDarknet', 'PluginResNetV1c', 'AttnResNet', 'AttnMobileNetV2']
