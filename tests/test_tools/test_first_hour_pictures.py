"""A new user's first hour, round two: pictures and outputs a person can use (issue #22):
the detection Grad-CAM explains a detection the model makes and draws its box, background-only
segmenters are called that, classes have names, and bad paths are reported before the build."""

import os.path as osp
import runpy
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')
TOY_DET = osp.join(ROOT, 'configs/toy/yolox_nano-ela-t_1xb16-24e_toyvoc.py')


@pytest.fixture(scope='module')
def vis():
    sys.path.insert(0, TOOLS)
    try:
        yield runpy.run_path(osp.join(TOOLS, 'vis_attention.py'))
    finally:
        sys.path.remove(TOOLS)


@pytest.fixture(scope='module')
def toy_yolox():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    from ela_mm.utils.config import build_model, load_config

    torch.manual_seed(0)
    model = build_model(load_config(TOY_DET)).eval()
    inputs = torch.rand(1, 3, 96, 96)
    sample = DetDataSample(
        metainfo=dict(img_shape=(96, 96), ori_shape=(96, 96), scale_factor=(1.0, 1.0))
    )
    return model, inputs, sample, InstanceData


def test_detection_cam_explains_the_top_final_detection(vis, toy_yolox, monkeypatch):
    """The box followed is the model's best final detection (after NMS), found back at its
    prior: here predict() is made to return the decoded box of one prior of level 1 among
    lower-scoring others, whatever the raw scores elsewhere."""
    model, inputs, sample, InstanceData = toy_yolox
    head = model.bbox_head
    with torch.no_grad():
        cls, reg, obj = model(inputs, mode='tensor')
        sizes = [c.shape[-2:] for c in cls]
        priors = head.prior_generator.grid_priors(
            sizes, dtype=torch.float32, device='cpu', with_stride=True
        )
        boxes = head._bbox_decode(priors[1], reg[1][0].permute(1, 2, 0).reshape(-1, 4))
    y, x = 2, 3
    j = y * sizes[1][1] + x
    pred = InstanceData(
        bboxes=torch.stack([boxes[j - 1], boxes[j]]),
        scores=torch.tensor([0.2, 0.7]),
        labels=torch.tensor([0, 2]),
    )
    monkeypatch.setattr(model, 'predict', lambda *a, **k: [type('S', (), {'pred_instances': pred})])
    wrapper, level, c, score, size = vis['detection_target'](model, inputs, sample)
    assert (level, c, score, size) == (1, 2, pytest.approx(0.7), tuple(sizes[1]))
    assert wrapper.final and wrapper.box == pytest.approx(boxes[j].tolist())
    with torch.no_grad():  # the logits of exactly that prior
        assert wrapper(inputs).item() == pytest.approx(
            float(cls[1][0, 2, y, x] + obj[1][0, 0, y, x])
        )
    # no final detection: said so, and the raw top score is followed without a box
    empty = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0), labels=torch.zeros(0))
    monkeypatch.setattr(
        model, 'predict', lambda *a, **k: [type('S', (), {'pred_instances': empty})]
    )
    wrapper, *_ = vis['detection_target'](model, inputs, sample)
    assert not wrapper.final and wrapper.no_detection and wrapper.box is None


def test_the_box_is_drawn(vis, tmp_path):
    from PIL import Image

    img = np.zeros((60, 80, 3), np.uint8)
    out = str(tmp_path / 'p.png')
    vis['draw']([('input', img, None, None, None), ('cam', img, None, None, None, None)], out)
    plain = np.asarray(Image.open(out).convert('L'))
    vis['draw'](
        [('input', img, None, None, None), ('cam', img, None, None, None, [10, 10, 50, 40])], out
    )
    boxed = np.asarray(Image.open(out).convert('L'))
    assert (boxed > 200).sum() > (plain > 200).sum() + 100  # the white rectangle


def test_segmentation_target_names_background_only_models(vis):
    names = ['background', 'aeroplane', 'bicycle']
    cls, what = vis['segmentation_target'](torch.tensor([900, 0, 0]), names)
    assert cls == 0 and what.startswith('background only: the model predicts no foreground')
    cls, what = vis['segmentation_target'](torch.tensor([800, 3, 97]), names)
    assert (cls, what) == (2, 'class bicycle (97 predicted pixels)')


def test_imagenet_classifier_classes_have_names(vis):
    from ela_mm.utils.config import load_config

    cfg = load_config(osp.join(ROOT, 'configs/resnet/resnet50-ela-b_8xb32_in1k.py'))
    names = vis['class_names'](cfg, torch.nn.Module())
    assert len(names) == 1000 and names[579].startswith('grand piano')


def test_vis_paths_are_checked_before_anything_is_loaded(vis, tmp_path, monkeypatch):
    def main(*argv):
        monkeypatch.setattr(sys, 'argv', ['vis_attention.py', *argv])
        with pytest.raises(SystemExit) as e:
            vis['main']()
        return str(e.value)

    img = tmp_path / 'a.png'
    from PIL import Image

    Image.new('RGB', (8, 8)).save(img)
    missing_ckpt = str(tmp_path / 'none.pth')
    assert 'the folder' in main(
        TOY_DET, missing_ckpt, str(img), '--out', str(tmp_path / 'no/x.png')
    )
    assert 'does not exist: pass an image' in main(TOY_DET, missing_ckpt, str(tmp_path / 'b.jpg'))
    assert 'not an image' in main(TOY_DET, missing_ckpt, TOY_DET)
    assert 'no such file' in main(TOY_DET, missing_ckpt, str(img), '--out', str(tmp_path / 'x.png'))
