# MobileNetV2 + ELA-S: the plain baseline plus ELA-S, the variant the paper reports for
# MobileNetV2. The module sits after the depthwise 3x3 of every inverted residual, where
# Coordinate Attention puts it; every hidden width there splits into ELA-S's groups.
_base_ = './mobilenet-v2_8xb32_in1k.py'

model = dict(backbone=dict(type='AttnMobileNetV2', attention=dict(type='ELA', variant='S')))
