# YOLOX-Nano + ELA-B on the toy data: one row of the toy detection comparison, the toy plain
# baseline plus ELA-B, appended to the backbone stages 2-4 as in
# configs/yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py (there ELA-T).
# (ELA-B has no real YOLOX row: the paper pairs YOLOX-Nano with ELA-T; this toy row shows
# the bigger variant on the same slots.)
_base_ = './yolox_nano_1xb16-24e_toyvoc.py'

model = dict(
    backbone=dict(
        type='PluginCSPDarknet',
        plugins=[dict(cfg=dict(type='ELA', variant='B'), stages=(False, True, True, True))],
    )
)
