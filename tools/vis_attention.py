"""Draw what an ELA layer attends to: the map a_h (x) a_w over the image, as the paper shows it;
optionally (--cam) a Grad-CAM heat map of the last backbone stage, like the paper's Figure 3
(through the maintained ``grad-cam`` package).

    python tools/vis_attention.py CONFIG CHECKPOINT IMAGE [--layer backbone.stage4.ela]
                                  [--out attention.png] [--cam]

Works for detection, segmentation and classification configs. ``--layer`` picks an ELA module by
its name (default: the deepest one); ``--list`` prints the names. The map is the channel mean of
``a_h[c, :, None] * a_w[c, None, :]``, cropped to the image part of the (resized, padded) input
and resized to the original image.
"""

import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from ela_mm import ELA  # noqa: E402
from ela_mm.utils.checkpoint import check_checkpoint  # noqa: E402
from ela_mm.utils.config import build_model, load_config, tensor_outputs  # noqa: E402
from ela_mm.utils.visualization import strip_attention_map  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Visualise ELA attention (and Grad-CAM)')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--layer', help='name of the ELA module (default: the deepest)')
    parser.add_argument('--list', action='store_true', help='list the ELA modules and exit')
    parser.add_argument('--out', default='attention.png', help='output PNG')
    parser.add_argument(
        '--cam', action='store_true', help='add a Grad-CAM heat map of the last backbone stage'
    )
    return parser.parse_args()


def prepare(cfg, model, image: str):
    """The test pipeline (without annotation loading) and the model's data preprocessor."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import DefaultScope

    pipeline = cfg.get('test_pipeline') or cfg.test_dataloader.dataset.pipeline
    pipeline = [t for t in pipeline if 'LoadAnnotations' not in t['type']]
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        data = Compose(pipeline)(dict(img_path=image, img_id=0))
        data = model.data_preprocessor(pseudo_collate([data]), False)
    return data['inputs'], data['data_samples'][0]


def overlay(img: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    from matplotlib import colormaps

    heat = (heat - heat.min()) / max(float(heat.max() - heat.min()), 1e-12)
    colour = colormaps['jet'](heat)[..., :3] * 255
    return (img * (1 - alpha) + colour * alpha).astype(np.uint8)


def to_image_frame(heat: torch.Tensor, sample, input_hw, ori_hw) -> np.ndarray:
    """Map a heat map over the network input back onto the original image."""
    heat = F.interpolate(
        heat[None, None].float(), size=input_hw, mode='bilinear', align_corners=False
    )[0, 0]
    h, w = sample.metainfo.get('img_shape', input_hw)[:2]
    heat = heat[: int(h), : int(w)]  # drop padding
    return F.interpolate(heat[None, None], size=ori_hw, mode='bilinear', align_corners=False)[
        0, 0
    ].numpy()


class _Scalar(nn.Module):
    """Model wrapper whose output Grad-CAM can take a target from, per task."""

    def __init__(self, model, task):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, x):
        out = self.model(x, mode='tensor')
        if self.task == 'mmdet':  # YOLOX-style (cls_scores, bbox_preds, objectness)
            cls, _, obj = out
            return sum(
                (c.sigmoid() * o.sigmoid()).amax(dim=1).flatten(1).amax(dim=1)
                for c, o in zip(cls, obj)
            )
        return tensor_outputs(out)[0]


def grad_cam(model, task, inputs) -> torch.Tensor:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import (
        ClassifierOutputTarget,
        SemanticSegmentationTarget,
    )

    layer = list(model.backbone.children())[-1]
    wrapper = _Scalar(model, task)
    with torch.no_grad():
        out = wrapper(inputs)
    if task == 'mmpretrain':
        targets = [ClassifierOutputTarget(int(out[0].argmax()))]
    elif task == 'mmseg':
        pred = out[0].argmax(0)
        cls = int(torch.bincount(pred.flatten()).argmax())
        targets = [SemanticSegmentationTarget(cls, (pred == cls).float().numpy())]
    else:
        targets = [lambda o: o]
    with GradCAM(model=wrapper, target_layers=[layer]) as cam:
        return torch.from_numpy(cam(input_tensor=inputs, targets=targets)[0])


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config)
    model = build_model(cfg)
    model.load_state_dict(check_checkpoint(model, args.checkpoint), strict=True)
    model.eval()
    elas = {n: m for n, m in model.named_modules() if isinstance(m, ELA)}
    if args.list or not elas:
        print('\n'.join(elas) or 'this model has no ELA module')
        return
    name = args.layer or list(elas)[-1]
    if name not in elas:
        raise ValueError(
            f'--layer {name!r} is not an ELA module of this model; choose one of: {", ".join(elas)}'
        )
    captured = {}

    def hook(module, inp, out):
        captured['map'] = strip_attention_map(module, inp[0])

    inputs, sample = prepare(cfg, model, args.image)
    handle = elas[name].register_forward_hook(hook)
    with torch.no_grad():
        model(inputs, mode='tensor')
    handle.remove()

    img = np.array(Image.open(args.image).convert('RGB'))
    in_hw, ori_hw = tuple(inputs.shape[-2:]), img.shape[:2]
    panels = [img, overlay(img, to_image_frame(captured['map'], sample, in_hw, ori_hw))]
    if args.cam:
        heat = grad_cam(model, cfg.default_scope, inputs)
        panels.append(overlay(img, to_image_frame(heat, sample, in_hw, ori_hw)))
    Image.fromarray(np.concatenate(panels, axis=1)).save(args.out)
    print(f'{name}: attention map{" and Grad-CAM" if args.cam else ""} -> {args.out}')


if __name__ == '__main__':
    main()
