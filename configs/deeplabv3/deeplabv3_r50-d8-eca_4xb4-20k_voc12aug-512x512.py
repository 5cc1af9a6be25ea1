# DeepLabV3 R50-D8 + ECA (kernel from C) after conv3 of every Bottleneck: one row of the attention
# comparison (same recipe and insertion points as the ELA-B config).
_base_ = './deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512.py'

model = dict(
    backbone=dict(
        plugins=[dict(cfg=dict(type='ECA'), stages=(True, True, True, True),
                      position='after_conv3')]))
