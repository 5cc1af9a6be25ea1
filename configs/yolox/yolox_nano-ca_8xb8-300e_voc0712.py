# YOLOX-Nano + Coordinate Attention (reduction 32) on Pascal VOC 07+12, appended to backbone stages
# 2-4. One row of the attention comparison: same recipe and insertion points for every module.
_base_ = './yolox_nano_8xb8-300e_voc0712.py'

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='CoordAtt'), stages=(False, True, True, True))]))
