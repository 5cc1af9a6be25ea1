# The plain upstream RTMDet-tiny (COCO): the baseline row of the attention comparison. Every
# attention row inherits this file and states its module in full.
_base_ = 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
