# The plain upstream ResNet-18 (ImageNet-1k): the baseline of the ResNet-18 rows.
_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
