"""mmseg's ResNetV1c whose Bottleneck chains several plugins at one position."""

from typing import List, Optional

from mmseg.models.backbones import ResNetV1c
from mmseg.models.backbones.resnet import Bottleneck
from mmseg.registry import MODELS


class ChainedPluginBottleneck(Bottleneck):
    """mmseg 1.2.2's Bottleneck feeds EVERY plugin at a position the block input (so only the
    last one counts); mmdet fixed this, mmseg did not. This subclass chains them in order."""

    def forward_plugin(self, x, plugin_names):
        out = x
        for name in plugin_names:
            out = getattr(self, name)(out)
        return out


@MODELS.register_module()
class PluginResNetV1c(ResNetV1c):
    """:class:`mmseg.models.backbones.ResNetV1c` with plugins that chain.

    Same arguments, modules and state-dict keys as ``ResNetV1c``; plugins
    (``plugins=[dict(cfg=..., stages=(...), position='after_conv3')]``, Bottleneck depths 50+)
    run one after another when several share a position.
    """

    arch_settings = {
        depth: (ChainedPluginBottleneck if block is Bottleneck else block, blocks)
        for depth, (block, blocks) in ResNetV1c.arch_settings.items()
    }

    def __init__(self, *args, plugins: Optional[List[dict]] = None, **kwargs) -> None:
        num_stages = kwargs.get('num_stages', 4)
        for plugin in plugins or []:
            flags = plugin.get('stages')
            if flags is not None and len(flags) != num_stages:
                raise ValueError(
                    f'PluginResNetV1c: plugin {plugin["cfg"]} has {len(flags)} stage flags, '
                    f'the backbone has {num_stages} stages (layer1 to layer{num_stages})'
                )
        super().__init__(*args, plugins=plugins, **kwargs)
