# The plain DeepLabV3 R101-D8 (VOC 2012 aug, 40k schedule): the R50 baseline with the upstream
# R101 settings, as mmseg derives its own R101 configs.
_base_ = './deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py'

model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
