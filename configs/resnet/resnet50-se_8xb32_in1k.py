# ResNet-50 + SE: one row of the attention comparison, the plain baseline plus SE.
# The module sits at the end of every residual branch (after the branch's last BatchNorm,
# before the addition), as SE, ECA, CA and ELA place it in ResNets.
_base_ = './resnet50_8xb32_in1k.py'

model = dict(backbone=dict(type='AttnResNet', attention=dict(type='SE')))
