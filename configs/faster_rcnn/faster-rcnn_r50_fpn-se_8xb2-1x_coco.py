# Faster R-CNN R50-FPN + SE on COCO: one row of the attention comparison, the plain baseline
# plus SE. As in the ECA paper's detection table, the module sits in every Bottleneck after
# conv3's BatchNorm, before the residual addition (mmdet's own ResNet plugins, after_conv3).
# Stages 2-4 only: stage 1 is frozen (frozen_stages=1) with ImageNet weights that were trained
# without attention, so a module there would stay at its random initialisation.
_base_ = './faster-rcnn_r50_fpn_8xb2-1x_coco.py'

model = dict(
    backbone=dict(
        plugins=[
            dict(cfg=dict(type='SE'), stages=(False, True, True, True), position='after_conv3')
        ]
    )
)
