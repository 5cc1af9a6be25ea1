# RTMDet-tiny + ECA on COCO: one row of the attention comparison, the plain baseline plus ECA.
# mmdet's CSPNeXt takes no plugins: WithAttention (ela_mm.models.insertion) builds it unchanged
# and inserts the module after the last layer of stages 2-4, the three stages that feed the
# PAFPN neck, as the YOLOX-Nano rows do (the paper's detection setting). The backbone's other
# arguments, its pretrained init_cfg included, are the baseline's.
_base_ = './rtmdet_tiny_8xb32-300e_coco.py'

model = dict(
    backbone=dict(
        type='WithAttention',
        host='CSPNeXt',
        attention=[dict(cfg=dict(type='ECA'), after='stage[2-4].-1')],
    )
)
