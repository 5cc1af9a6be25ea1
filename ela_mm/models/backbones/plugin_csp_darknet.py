"""mmdet's CSPDarknet (the YOLOX backbone) with stage-level plugins, in mmyolo's format."""

from typing import List, Optional

from mmcv.cnn import build_plugin_layer
from mmdet.models.backbones import CSPDarknet
from mmdet.models.layers import CSPLayer
from mmdet.registry import MODELS


@MODELS.register_module()
class PluginCSPDarknet(CSPDarknet):
    """:class:`mmdet.models.backbones.CSPDarknet` that appends plugin layers after stages.

    Args:
        plugins: list of ``dict(cfg=<plugin config>, stages=(bool, ...))``, one flag per stage
            (4 for P5, 5 for P6). The plugin is appended to each selected stage, after its
            CSPLayer, with ``in_channels`` set to the stage's output width. Default ``None``:
            exactly ``CSPDarknet`` (same modules, same state-dict keys), so upstream YOLOX
            checkpoints load without missing or unexpected keys. With plugins, only the plugins'
            own keys (``stage{i}.{name}.*``) are new.
        *args, **kwargs: as ``CSPDarknet``.

    Example:
        >>> PluginCSPDarknet(deepen_factor=0.33, widen_factor=0.25, use_depthwise=True,
        ...                  plugins=[dict(cfg=dict(type='ELA', variant='T'),
        ...                                stages=(False, True, True, True))])
    """

    def __init__(self, *args, plugins: Optional[List[dict]] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        stages = [getattr(self, name) for name in self.layers[1:]]
        for plugin in plugins or []:
            flags = tuple(plugin['stages'])
            if len(flags) != len(stages):
                raise ValueError(
                    f'PluginCSPDarknet: plugin {plugin["cfg"]} has {len(flags)} '
                    f'stage flags, the backbone has {len(stages)} stages '
                    f'({self.layers[1:]})'
                )
            for name, stage, on in zip(self.layers[1:], stages, flags):
                if not on:
                    continue
                width = next(m for m in stage if isinstance(m, CSPLayer)).final_conv.out_channels
                layer_name, layer = build_plugin_layer(plugin['cfg'], in_channels=width)
                if hasattr(stage, layer_name):
                    raise ValueError(
                        f'PluginCSPDarknet: {name} already has a plugin named '
                        f'{layer_name!r}; give the duplicate a distinct type'
                    )
                stage.add_module(layer_name, layer)
