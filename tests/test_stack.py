"""Smoke tests of the OpenMMLab stack itself: real mmcv ops, real upstream models."""

import torch
from mmengine.hub import get_config
from mmengine.registry import init_default_scope


def test_mmcv_has_compiled_ops():
    import mmcv._ext  # noqa: F401  (a set-up without compiled ops must fail here)
    from mmcv.ops import batched_nms

    boxes = torch.tensor(
        [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=torch.float32
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    idxs = torch.tensor([0, 0, 1, 0])  # box 2 is another class: NMS must not suppress it
    dets, keep = batched_nms(boxes, scores, idxs, dict(type='nms', iou_threshold=0.5))
    assert keep.tolist() == [0, 2, 3]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7, 0.6]))


def _build(cfg_path: str, scope: str):
    from mmengine.registry import MODELS

    cfg = get_config(cfg_path)
    init_default_scope(scope)
    return MODELS.build(cfg.model).eval()


def test_upstream_yolox_nano_forward():
    import mmdet.models  # noqa: F401

    model = _build('mmdet::yolox/yolox_nano_8xb8-300e_coco.py', 'mmdet')
    with torch.no_grad():
        feats = model.extract_feat(torch.rand(1, 3, 128, 128))
        cls, reg, obj = model.bbox_head(feats)
    assert [f.shape[-1] for f in feats] == [16, 8, 4]
    assert cls[0].shape == (1, 80, 16, 16) and reg[0].shape == (1, 4, 16, 16)


def test_upstream_deeplabv3_forward():
    import mmseg.models  # noqa: F401

    cfg = get_config('mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py')
    cfg.model.pretrained = None
    cfg.model.data_preprocessor = None
    init_default_scope('mmseg')
    from mmengine.registry import MODELS

    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 21, 8, 8)


def test_upstream_resnet18_classifier_forward():
    import mmpretrain.models  # noqa: F401

    model = _build('mmpretrain::resnet/resnet18_8xb32_in1k.py', 'mmpretrain')
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64), mode='tensor')
    assert out.shape == (2, 1000)
    assert torch.isfinite(out).all()
