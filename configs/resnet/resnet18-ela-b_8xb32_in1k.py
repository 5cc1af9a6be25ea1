# ResNet-18 + ELA-B on ImageNet-1k: the upstream mmpretrain recipe (100 epochs, batch 256,
# SGD 0.1, step LR) with ELA-B at the end of every residual branch, before the addition.
_base_ = 'mmpretrain::resnet/resnet18_8xb32_in1k.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)

model = dict(backbone=dict(type='AttnResNet', attention=dict(type='ELA', variant='B')))
