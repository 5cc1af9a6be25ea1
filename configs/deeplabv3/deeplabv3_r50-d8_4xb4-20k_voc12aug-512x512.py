# The plain upstream DeepLabV3 R50-D8 (VOC 2012 aug, 20k schedule): the baseline row of the
# attention comparison. Every attention row inherits this file and states its module in full.
_base_ = 'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
