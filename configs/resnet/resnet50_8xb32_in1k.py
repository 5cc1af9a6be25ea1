# The plain upstream ResNet-50 (ImageNet-1k): the baseline row of the attention comparison.
# Every attention row inherits this file and states its module in full.
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
