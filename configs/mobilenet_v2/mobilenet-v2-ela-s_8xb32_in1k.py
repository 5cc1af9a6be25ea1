# MobileNetV2 + ELA-S on ImageNet-1k: the upstream mmpretrain recipe (300 epochs, batch 256) with
# ELA-S after the depthwise 3x3 of every inverted residual (where Coordinate Attention sits).
# ELA-S (k=5, C/8 conv groups, GroupNorm 16) is the variant the paper reports for MobileNetV2;
# every hidden width (32, 96, 144, 192, 384, 576, 960) splits into 16 groups.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)

model = dict(backbone=dict(type='AttnMobileNetV2', attention=dict(type='ELA', variant='S')))
