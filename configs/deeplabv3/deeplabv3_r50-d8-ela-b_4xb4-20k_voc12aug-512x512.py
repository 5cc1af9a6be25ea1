# DeepLabV3 R50-D8 + ELA-B, the paper's segmentation setting: the plain baseline plus ELA-B.
# Inserted after conv3 of every Bottleneck (after its last BatchNorm, before the residual
# addition) in all four stages: where SE, ECA, CA and ELA put their modules in ResNets.
# PluginResNetV1c is mmseg's ResNetV1c with plugins that chain (see its docstring).
_base_ = './deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[
            dict(
                cfg=dict(type='ELA', variant='B'),
                stages=(True, True, True, True),
                position='after_conv3',
            )
        ],
    )
)
