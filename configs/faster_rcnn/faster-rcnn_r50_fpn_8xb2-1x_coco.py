# The plain upstream Faster R-CNN R50-FPN (COCO, 1x schedule): the baseline row of the attention
# comparison the ECA paper reports for detection. Every attention row inherits this file and
# states its module in full.
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
