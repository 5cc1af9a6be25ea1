# DeepLabV3 with a MobileNetV2-D8 backbone on Pascal VOC 2012 aug (20k schedule): the baseline
# row of the comparison the Coordinate Attention paper reports for segmentation. mmseg ships
# MobileNetV2 DeepLabV3 only for ADE20K and Cityscapes; this is the VOC recipe of the R50 baseline
# with the backbone mmseg's ADE20K MobileNetV2 config uses (output stride 8, ImageNet weights).
_base_ = './deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    pretrained='mmcls://mobilenet_v2',
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 1, 1, 1, 1),
        dilations=(1, 1, 1, 2, 2, 4, 4),
        out_indices=(1, 2, 4, 6),
        norm_cfg=norm_cfg,
    ),
    decode_head=dict(in_channels=320),
    auxiliary_head=dict(in_channels=96),
)
