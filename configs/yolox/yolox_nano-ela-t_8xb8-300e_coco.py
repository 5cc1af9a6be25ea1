# YOLOX-Nano + ELA-T on COCO: the upstream 300-epoch recipe, with ELA-T appended to backbone
# stages 2-4 (the three that feed the PAFPN; widths 64, 128, 256). ELA-T is the paper's variant
# for light networks such as YOLOX-Nano.
_base_ = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))]))
