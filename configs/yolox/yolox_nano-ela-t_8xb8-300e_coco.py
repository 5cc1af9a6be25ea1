# YOLOX-Nano + ELA-T on COCO: the plain baseline plus ELA-T, the paper's variant for light
# networks, appended to the backbone stages 2-4 (the three that feed the PAFPN).
_base_ = './yolox_nano_8xb8-300e_coco.py'

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='ELA', variant='T'), stages=(False, True, True, True))],
    )
)
