# The plain upstream MobileNetV2 (ImageNet-1k): the baseline of the MobileNetV2 rows.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
