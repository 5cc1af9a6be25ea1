# ResNet-18 + ELA-B on the toy classification set: one row of the toy classification comparison,
# the toy plain baseline plus ELA-B at the end of every residual branch, as in
# configs/resnet/resnet18-ela-b_8xb32_in1k.py.
_base_ = './resnet18_1xb32-700it_toycls-64x64.py'

model = dict(backbone=dict(type='AttnResNet', attention=dict(type='ELA', variant='B')))
