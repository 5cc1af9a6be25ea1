# DeepLabV3 MobileNetV2-D8 + CBAM on Pascal VOC 2012 aug: one row of the attention comparison,
# the plain baseline plus CBAM. As in the Coordinate Attention paper, the module sits after the
# depthwise 3x3 of every inverted residual (its second-to-last layer), where CA and ELA put it
# in MobileNetV2. mmseg's MobileNetV2 takes no plugins: WithAttention builds it unchanged and
# inserts the modules; the backbone's other arguments are the baseline's.
_base_ = './deeplabv3_m-v2-d8_4xb4-20k_voc12aug-512x512.py'

model = dict(
    backbone=dict(
        type='WithAttention',
        host='MobileNetV2',
        attention=[dict(cfg=dict(type='CBAM'), after='layer*.*.conv.-2')],
    )
)
