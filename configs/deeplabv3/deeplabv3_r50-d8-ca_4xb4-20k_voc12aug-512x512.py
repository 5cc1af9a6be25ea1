# DeepLabV3 R50-D8 + Coordinate Attention: one row of the attention comparison, the plain
# baseline plus CA.
# Inserted after conv3 of every Bottleneck (after its last BatchNorm, before the residual
# addition) in all four stages: where SE, ECA, CA and ELA put their modules in ResNets.
# PluginResNetV1c is mmseg's ResNetV1c with plugins that chain (see its docstring).
_base_ = './deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[
            dict(cfg=dict(type='CoordAtt'), stages=(True, True, True, True), position='after_conv3')
        ],
    )
)
