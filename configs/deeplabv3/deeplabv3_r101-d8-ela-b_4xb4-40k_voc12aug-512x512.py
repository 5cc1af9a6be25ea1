# DeepLabV3 R101-D8 + ELA-B on Pascal VOC 2012 aug, 512x512, 40k iterations: the R50 config with
# the upstream R101 settings (as mmseg derives its own R101 configs).
_base_ = './deeplabv3_r50-d8-ela-b_4xb4-40k_voc12aug-512x512.py'

model = dict(pretrained='open-mmlab://resnet101_v1c', backbone=dict(depth=101))
