# YOLOX-Nano + SE on Pascal VOC 07+12: one row of the attention comparison, the plain baseline
# plus SE. Appended to the backbone stages 2-4 (the three that feed the PAFPN); mmdet's CSPDarknet
# takes no plugins, PluginCSPDarknet adds them.
_base_ = './yolox_nano_8xb8-300e_voc0712.py'

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='SE'), stages=(False, True, True, True))],
    )
)
