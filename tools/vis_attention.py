"""Draw what an ELA layer attends to, as labelled panels: the input image; the map a_h (x) a_w of
an ELA layer over it (layer name, value range, colour bar); optionally (--cam) a Grad-CAM heat
map, like the paper's Figure 3 (through the maintained ``grad-cam`` package), with its target
class and layer.

    python tools/vis_attention.py CONFIG CHECKPOINT IMAGE [--layer NAME] [--list]
        [--out attention.png] [--fixed-scale] [--cam] [--cam-layer NAME] [--class NAME]
        [--cfg-options k=v ...]

Works for detection, segmentation and classification configs. ``--layer`` picks an ELA module
by name (default: the deepest one; ``--list`` prints the names). The map is the channel mean of
``a_h[c, :, None] * a_w[c, None, :]``, cropped to the image part of the (resized, padded) input
and resized to the original image; its colours span its own value range (printed on the panel)
or, with ``--fixed-scale``, 0 to 1. Grad-CAM targets: classification, the top-1 class (or
``--class``); segmentation, the most frequent predicted class other than background (or
``--class``; a model that predicts only background is called that); detection, the class +
objectness logits of the highest-scoring final detection (after NMS; its box is drawn and its
score recorded), at the backbone stage whose map responds (``--cam-layer`` to choose). An empty
Grad-CAM map is reported, never drawn silently. The image, the ``--out`` folder and the
checkpoint are checked before anything is built.
A JSON file next to the picture records what each panel shows.
"""

import argparse
import json
import os.path as osp
import sys

from cli_args import add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Visualise ELA attention (and Grad-CAM)')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image', nargs='?', help='the picture (not needed with --list)')
    parser.add_argument('--layer', help='name of the ELA module (default: the deepest)')
    parser.add_argument('--list', action='store_true', help='list the ELA modules and exit')
    parser.add_argument('--out', default='attention.png', help='output PNG')
    parser.add_argument(
        '--fixed-scale', action='store_true', help='colour the ELA map on a fixed 0-1 scale'
    )
    parser.add_argument('--cam', action='store_true', help='add a Grad-CAM heat map')
    parser.add_argument('--cam-layer', help='module for Grad-CAM (default: chosen per task)')
    parser.add_argument('--class', dest='cls', help='Grad-CAM target class name')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if args.image is None and not args.list:
        parser.error('IMAGE is required (only --list works without one)')
    return parser, args


def check_paths(args) -> None:
    """The image and the output folder, checked before anything is built or loaded."""
    if args.image is not None:
        if not osp.isfile(args.image):
            what = 'is a folder' if osp.isdir(args.image) else 'does not exist'
            raise SystemExit(f'IMAGE {args.image!r} {what}: pass an image file')
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(args.image) as im:
                im.verify()
        except (UnidentifiedImageError, OSError) as e:
            raise SystemExit(f'IMAGE {args.image!r} is not an image PIL can read ({e})') from None
    folder = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(folder):
        raise SystemExit(
            f'--out {args.out}: the folder {folder} does not exist; create it (mkdir -p) or '
            f'write elsewhere'
        )
    if not args.out.lower().endswith('.png'):
        raise SystemExit(f'--out {args.out}: expected a .png file')


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


def to_image_frame(heat, sample, input_hw, ori_hw):
    """Map a heat map over the network input back onto the original image."""
    import torch.nn.functional as F

    heat = F.interpolate(
        heat[None, None].float(), size=input_hw, mode='bilinear', align_corners=False
    )[0, 0]
    h, w = sample.metainfo.get('img_shape', input_hw)[:2]
    heat = heat[: int(h), : int(w)]  # drop padding
    out = F.interpolate(heat[None, None], size=ori_hw, mode='bilinear', align_corners=False)
    return out[0, 0].numpy()


def class_names(cfg, model):
    meta = getattr(model, 'dataset_meta', None) or {}
    names = meta.get('classes')
    if names is None:
        loader = cfg.get('test_dataloader') or {}
        names = ((loader.get('dataset') or {}).get('metainfo') or {}).get('classes')
    if names is None and cfg.get('default_scope') == 'mmpretrain':
        head = (cfg.model.get('head') or {}) if isinstance(cfg.model, dict) else {}
        if head.get('num_classes') == 1000:  # an ImageNet-1k classifier without a dataset meta
            from mmpretrain.datasets.categories import IMAGENET_CATEGORIES

            names = IMAGENET_CATEGORIES
    return list(names) if names else None


def segmentation_target(counts, names, cls=None):
    """(class index, description) of a segmentation Grad-CAM: ``cls`` when asked for, else the
    foreground class with most predicted pixels; a model that predicts only background is
    called that (and its background class followed), never a class with 0 pixels."""

    def name(i):
        return names[i] if names else i

    if cls is not None:
        return cls, f'class {name(cls)} ({int(counts[cls])} predicted pixels)'
    fg = [int(c) for c in counts[1:]]
    if not fg or max(fg) == 0:
        return 0, (
            f'background only: the model predicts no foreground class in this image; showing '
            f'class {name(0)} ({int(counts[0])} predicted pixels)'
        )
    best = 1 + fg.index(max(fg))
    return best, f'class {name(best)} ({max(fg)} predicted pixels)'


def final_detection(model, inputs, sample, out):
    """(level, class, y, x, score, box) of the highest-scoring final detection (after NMS, as
    ``model.predict`` returns them; box in the network input's frame), found back at its prior
    by its decoded box; ``None`` when there is no detection or the head cannot decode."""
    import torch

    head = getattr(model, 'bbox_head', None)
    if head is None or not hasattr(head, '_bbox_decode') or not hasattr(model, 'predict'):
        return None
    with torch.no_grad():
        pred = model.predict(inputs, [sample], rescale=False)[0].pred_instances
        if len(pred) == 0:
            return 'none'
        i = int(pred.scores.argmax())
        box, label, score = pred.bboxes[i], int(pred.labels[i]), float(pred.scores[i])
        sizes = [c.shape[-2:] for c in out[0]]
        priors = head.prior_generator.grid_priors(
            sizes, dtype=out[0][0].dtype, device=out[0][0].device, with_stride=True
        )
        best = None
        for level, (p, b) in enumerate(zip(priors, out[1])):
            boxes = head._bbox_decode(p, b[0].permute(1, 2, 0).reshape(-1, 4))
            d, j = (boxes - box).abs().sum(1).min(0)
            if best is None or d < best[0]:
                best = (float(d), level, int(j))
    _, level, j = best
    w = sizes[level][1]
    box = [float(v) for v in box] if bool(torch.isfinite(box).all()) else None
    return level, label, j // w, j % w, score, box


def detection_target(model, inputs, sample=None):
    """(wrapper returning the chosen box's class + objectness logit, its level, class, score,
    level size) for YOLOX-style heads (class scores and objectness per level); ``None`` for other
    heads. The box is the highest-scoring final detection (``model.predict``: after the score
    threshold and NMS) when ``sample`` is given, else the highest raw score; ``wrapper.box`` is
    its box in the network input's frame (``None`` for a raw score), ``wrapper.final`` whether it
    is a final detection. Grad-CAM follows the logits, not the sigmoid score: a confident box
    (score ~1) has a vanishing score gradient and would give an empty map at every layer."""
    import torch

    with torch.no_grad():
        out = model(inputs, mode='tensor')
    if not (isinstance(out, (tuple, list)) and len(out) == 3 and len(out[0]) == len(out[2])):
        return None
    chosen = final_detection(model, inputs, sample, out) if sample is not None else None
    box, final = None, False
    if chosen not in (None, 'none'):
        level, cls, y, x, score, box = chosen
        final = True
    else:
        best = None
        for level, (c, o) in enumerate(zip(out[0], out[2])):
            s = c.sigmoid() * o.sigmoid()
            v, i = s[0].flatten().max(0)
            if best is None or v > best[0]:
                best = (float(v), level, *[int(t) for t in torch.unravel_index(i, s[0].shape)])
        score, level, cls, y, x = best
    size = tuple(out[0][level].shape[-2:])

    class TopBox(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, t):
            c, _, o = self.model(t, mode='tensor')
            return (c[level][:, cls, y, x] + o[level][:, 0, y, x])[:, None]

    wrapper = TopBox()
    wrapper.box, wrapper.final, wrapper.no_detection = box, final, chosen == 'none'
    return wrapper, level, cls, score, size


def grad_cam(model, task, inputs, layers, cls_name, names, sample=None, info=None):
    """(heat map, target description, layer name, layers tried before it) of the first layer in
    ``layers`` whose Grad-CAM map is not empty (all zero), else of the last one (then every layer is
    in the tried list). For a detector, the layers whose output has the chosen box's level
    resolution come first. ``info`` (a dict) receives the detection's score and box."""
    import numpy as np
    import torch
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import (
        ClassifierOutputTarget,
        SemanticSegmentationTarget,
    )

    from ela_mm.utils.config import tensor_outputs

    class Tensor0(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, t):
            return tensor_outputs(self.model(t, mode='tensor'))[0]

    def index_of(name):
        if names is None or name not in names:
            raise SystemExit(f'--class {name!r}: not a class of this model ({names})')
        return names.index(name)

    sizes = {}

    def size_of(name):
        def hook(module, inputs, output) -> None:  # None: the output stays as it is
            if isinstance(output, torch.Tensor):
                sizes.setdefault(name, tuple(output.shape[-2:]))

        return hook

    hooks = [m.register_forward_hook(size_of(n)) for n, m in layers]
    with torch.no_grad():
        model(inputs, mode='tensor')
    for h in hooks:
        h.remove()
    if task == 'mmdet':
        found = detection_target(model, inputs, sample)
        if found is None:
            wrapper, targets = Tensor0(), [lambda o: o.max()]
            what = 'the largest output'
        else:
            wrapper, level, cls, score, size = found
            targets = [lambda o: o.sum()]
            kind = 'top box' if wrapper.final else 'top raw score (no final detection)'
            what = f'{kind}: {names[cls] if names else cls} (score {score:.2f}, level {level})'
            layers = sorted(layers, key=lambda nl: sizes.get(nl[0]) != size)  # its level first
            if info is not None:
                info.update(score=score, box=wrapper.box, final=wrapper.final)
    else:
        wrapper = Tensor0()
        with torch.no_grad():
            out = wrapper(inputs)
        if task == 'mmpretrain':
            cls = index_of(cls_name) if cls_name else int(out[0].argmax())
            targets, what = [ClassifierOutputTarget(cls)], f'class {names[cls] if names else cls}'
        else:  # segmentation: a foreground class unless asked otherwise
            pred = out[0].argmax(0)
            counts = torch.bincount(pred.flatten(), minlength=out.shape[1])
            cls, what = segmentation_target(counts, names, index_of(cls_name) if cls_name else None)
            mask = (pred == cls).float().numpy()
            targets = [SemanticSegmentationTarget(cls, mask)]
    heat, name, empty = None, None, []
    for name, layer in layers:
        with GradCAM(model=wrapper, target_layers=[layer]) as cam:
            heat = cam(input_tensor=inputs, targets=targets)[0]
        if np.abs(heat).max() > 0:
            return torch.from_numpy(heat), what, name, empty
        empty.append(name)
    return torch.from_numpy(heat), what, name, empty


def cam_layers(model, task, choice):
    """Candidate layers for Grad-CAM, in the order they are tried."""
    named = dict(model.named_modules())
    if choice:
        if choice not in named:
            raise SystemExit(f'--cam-layer {choice!r} is not a module of this model')
        return [(choice, named[choice])]
    stages = [(f'backbone.{n}', m) for n, m in model.backbone.named_children()]
    stages = [s for s in stages if sum(p.numel() for p in s[1].parameters()) > 0]
    return stages[::-1] if task == 'mmdet' else stages[-1:]


def draw(panels, out: str) -> None:
    """One row of labelled panels: (title, image, heat or None, (vmin, vmax), colour label[,
    box (x1, y1, x2, y2) in image pixels, drawn as a rectangle])."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    h, w = panels[0][1].shape[:2]
    width = 4.5 * len(panels)
    fig, axes = plt.subplots(1, len(panels), figsize=(width, 4.5 * h / w + 0.9), dpi=150)
    for ax, (title, img, heat, scale, label, *box) in zip(axes, panels):
        ax.imshow(img)
        if box and box[0] is not None:
            x1, y1, x2, y2 = box[0]
            rect = plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec='white', lw=2)
            ax.add_patch(rect)
        if heat is not None:
            im = ax.imshow(heat, cmap='jet', alpha=0.5, vmin=scale[0], vmax=scale[1])
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=label)
        ax.set_title(title, fontsize=9)
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main(argv=None) -> None:
    parser, args = parse_args(argv)  # before the heavy imports: -h answers at once
    from ela_mm.utils.cli import start

    start(parser, args)
    import numpy as np
    import torch
    from PIL import Image

    from ela_mm import ELA
    from ela_mm.analysis.visualization import strip_attention_map
    from ela_mm.utils.checkpoint import check_checkpoint, read_checkpoint, resolve_checkpoint
    from ela_mm.utils.config import build_model, load_config, resolve_config

    check_paths(args)
    try:
        ckpt = read_checkpoint(resolve_checkpoint(args.checkpoint, 'CHECKPOINT'))
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(str(e)) from None
    try:
        cfg = load_config(resolve_config(args.config))
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = build_model(cfg)
    model.load_state_dict(check_checkpoint(model, args.checkpoint, ckpt), strict=True)
    model.eval()
    elas = {n: m for n, m in model.named_modules() if isinstance(m, ELA)}
    if not elas:
        raise SystemExit(f'{args.config}: this model has no ELA module, nothing to draw')
    if args.list:
        print('\n'.join(elas))
        return
    name = args.layer or list(elas)[-1]
    if name not in elas:
        raise SystemExit(
            f'--layer {name!r} is not an ELA module of this model; choose one of: {", ".join(elas)}'
        )
    captured = {}
    handle = elas[name].register_forward_hook(
        lambda m, i, o: captured.update(map=strip_attention_map(m, i[0]))
    )
    inputs, sample = prepare(cfg, model, args.image)
    with torch.no_grad():
        model(inputs, mode='tensor')
    handle.remove()

    img = np.array(Image.open(args.image).convert('RGB'))
    in_hw, ori_hw = tuple(inputs.shape[-2:]), img.shape[:2]
    amap = to_image_frame(captured['map'], sample, in_hw, ori_hw)
    lo, hi = float(captured['map'].min()), float(captured['map'].max())
    scale = (0.0, 1.0) if args.fixed_scale else (lo, hi)
    record = dict(image=args.image, ela_layer=name, ela_range=[lo, hi], ela_scale=list(scale))
    panels = [
        (f'input ({img.shape[1]}x{img.shape[0]})', img, None, None, None),
        (
            f'ELA map a_h x a_w: {name}\nvalues {lo:.3f} to {hi:.3f}',
            img,
            amap,
            scale,
            'gate (channel mean)',
        ),
    ]
    if args.cam:
        names = class_names(cfg, model)
        layers = cam_layers(model, cfg.default_scope, args.cam_layer)
        info = {}
        heat, what, layer, skipped = grad_cam(
            model, cfg.default_scope, inputs, layers, args.cls, names, sample, info
        )
        empty = len(skipped) == len(layers)
        title = f'Grad-CAM: {what}\nlayer {layer}' + (' (EMPTY: no positive evidence)' * empty)
        box = None
        if info.get('box') is not None:  # input frame -> image: undo the resize
            sy, sx = (
                sample.metainfo['img_shape'][0] / ori_hw[0],
                sample.metainfo['img_shape'][1] / ori_hw[1],
            )
            x1, y1, x2, y2 = info['box']
            box = [x1 / sx, y1 / sy, x2 / sx, y2 / sy]
        heat_img = to_image_frame(heat, sample, in_hw, ori_hw)
        panels.append((title, img, heat_img, (0, 1), 'CAM', box))
        record.update(cam_target=what, cam_layer=layer, cam_empty=empty, cam_empty_layers=skipped)
        if 'score' in info:
            record.update(cam_score=info['score'], cam_box=box, cam_final_detection=info['final'])
        if skipped and not empty:
            print(f'Grad-CAM map empty at {", ".join(skipped)}; showing {layer}')
        if empty:
            print(
                f'warning: Grad-CAM map is empty (all zero) for {what} at every tried layer '
                f'({", ".join(n for n, _ in layers)}): try --cam-layer or --class',
                file=sys.stderr,
            )
    draw(panels, args.out)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(record, f, indent=2)
    print(f'{name}: attention map{" and Grad-CAM" if args.cam else ""} -> {args.out}')


if __name__ == '__main__':
    main()
