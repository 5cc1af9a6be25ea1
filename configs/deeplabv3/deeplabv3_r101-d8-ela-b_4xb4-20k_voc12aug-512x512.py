# DeepLabV3 R101-D8 + ELA-B on Pascal VOC 2012 aug, 512x512, 20k iterations: the upstream
# recipe with ELA-B after conv3 of every Bottleneck (before the residual addition), in all four
# stages. ELA-B: the paper's base variant (k=7, depthwise conv, GroupNorm 16).
_base_ = 'mmseg::deeplabv3/deeplabv3_r101-d8_4xb4-20k_voc12aug-512x512.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginResNetV1c',
        plugins=[dict(cfg=dict(type='ELA', variant='B'), stages=(True, True, True, True),
                      position='after_conv3')]))
