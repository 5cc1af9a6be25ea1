"""Synthetic batches and one-step closures for measuring whole models without a dataset."""

from typing import Callable, Tuple

import torch
import torch.nn as nn


def synthetic_batch(
    scope: str,
    batch: int,
    hw: Tuple[int, int],
    num_classes: int,
    device: str = 'cpu',
    seed: int = 0,
):
    """(inputs, data_samples) that ``model(inputs, data_samples, mode='loss')`` accepts, with a
    few random boxes / a random mask / a random label per image; no dataset needed."""
    g = torch.Generator().manual_seed(seed)
    h, w = hw
    inputs = torch.rand(batch, 3, h, w, generator=g).to(device) * 255
    samples = []
    meta = dict(
        img_shape=(h, w),
        ori_shape=(h, w),
        pad_shape=(h, w),
        batch_input_shape=(h, w),
        scale_factor=(1.0, 1.0),
    )
    for _ in range(batch):
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmengine.structures import InstanceData

            xy = torch.rand(3, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
            wh = (torch.rand(3, 2, generator=g) * 0.3 + 0.1) * torch.tensor([w, h])
            s = DetDataSample(metainfo=meta)
            s.gt_instances = InstanceData(
                bboxes=torch.cat([xy, xy + wh], 1).to(device),
                labels=torch.randint(0, num_classes, (3,), generator=g).to(device),
            )
        elif scope == 'mmseg':
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample

            s = SegDataSample(metainfo=meta)
            s.gt_sem_seg = PixelData(
                data=torch.randint(0, num_classes, (1, h, w), generator=g).to(device)
            )
        elif scope == 'mmpretrain':
            from mmpretrain.structures import DataSample

            s = DataSample(metainfo=meta).set_gt_label(
                int(torch.randint(0, num_classes, (1,), generator=g))
            )
        else:
            raise ValueError(f'no synthetic batch for scope {scope!r}')
        samples.append(s)
    return inputs, samples


def num_classes(cfg) -> int:
    """The number of classes of a config's model head (one-stage, two-stage, segmentor,
    classifier)."""
    heads = [cfg.model.get(k) for k in ('bbox_head', 'decode_head', 'head')]
    heads.append((cfg.model.get('roi_head') or {}).get('bbox_head'))
    for head in heads:
        if head and 'num_classes' in head:
            return int(head['num_classes'])
    raise ValueError('cannot tell the number of classes from the config')


def inference_fn(model: nn.Module, inputs: torch.Tensor, samples=None) -> Callable[[], None]:
    """One no-grad forward in eval mode (``mode='tensor'``: network only, no post-processing);
    ``samples`` (from :func:`synthetic_batch`) for models whose forward needs image metadata,
    such as two-stage detectors."""

    def run():
        model.eval()
        with torch.no_grad():
            model(inputs, samples, mode='tensor')

    return run


def train_step_fn(model: nn.Module, inputs: torch.Tensor, samples) -> Callable[[], None]:
    """One training step's forward and backward (the loss the model's head defines)."""

    def run():
        model.train()
        loss, _ = model.parse_losses(model(inputs, samples, mode='loss'))
        loss.backward()
        for p in model.parameters():
            p.grad = None

    return run


class WithSamples(nn.Module):
    """``model(inputs, samples, mode='tensor')`` as a one-argument module, for tools that trace
    a model on a tensor alone (FLOP counting) when its forward needs image metadata."""

    def __init__(self, model: nn.Module, samples) -> None:
        super().__init__()
        self.model, self.samples = model, samples

    def forward(self, inputs: torch.Tensor):
        return self.model(inputs, self.samples, mode='tensor')
