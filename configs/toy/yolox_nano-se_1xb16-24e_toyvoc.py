# YOLOX-Nano + SE on the toy data: one row of the toy detection comparison, the toy plain
# baseline plus SE, appended to the backbone stages 2-4 as in
# configs/yolox/yolox_nano-se_8xb8-300e_voc0712.py.
_base_ = './yolox_nano_1xb16-24e_toyvoc.py'

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='SE'), stages=(False, True, True, True))],
    )
)
