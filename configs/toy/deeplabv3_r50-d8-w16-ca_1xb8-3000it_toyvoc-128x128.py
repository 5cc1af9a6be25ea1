# DeepLabV3 R50-D8 + Coordinate Attention (CA) on the toy data: one row of the toy segmentation
# comparison, the toy plain baseline plus CA, inserted as in
# configs/deeplabv3/deeplabv3_r50-d8-ca_4xb4-20k_voc12aug-512x512.py: after conv3 of every
# Bottleneck (after its last BatchNorm, before the residual addition) in all four stages.
_base_ = './deeplabv3_r50-d8-w16_1xb8-3000it_toyvoc-128x128.py'

model = dict(
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[
            dict(
                cfg=dict(type='CoordAtt'),
                stages=(True, True, True, True),
                position='after_conv3',
            )
        ],
    )
)
