# ResNet-50 + Coordinate Attention (reduction 32) at the end of every residual branch: one row of
# the attention comparison (same recipe and insertion points as the ELA-B config).
_base_ = './resnet50-ela-b_8xb32_in1k.py'

model = dict(backbone=dict(attention=dict(_delete_=True, type='CoordAtt')))
