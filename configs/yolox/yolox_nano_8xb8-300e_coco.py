# The plain upstream YOLOX-Nano (COCO): the baseline of the COCO rows.
_base_ = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)
