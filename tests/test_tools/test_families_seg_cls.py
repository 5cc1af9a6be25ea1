"""The segmentation and classification families end to end on the miniature VOC 2012 + SBD aug
and ImageNet trees: each ELA row trained with tools/train.py (validated by its own evaluator),
tested with tools/test.py, and opened by the upstream inference API (mmseg ``init_model`` +
``inference_model``, mmpretrain's ``ImageClassificationInferencer``) with the class names read
from the checkpoint (issue #21). Overrides: schedule, batch, workers, image scale, pretrained
weights (families.py)."""

import pytest
from families import checkpoint_classes, image_of, smoke_run, tree_root
from mmengine.registry import DefaultScope


@pytest.mark.parametrize(
    'config',
    [
        'deeplabv3/deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512.py',
        'deeplabv3/deeplabv3_m-v2-d8-ela-s_4xb4-20k_voc12aug-512x512.py',
    ],
)
def test_segmentation_family_end_to_end(config, miniature, tmp_path):
    from mmseg.apis import inference_model, init_model
    from mmseg.datasets import PascalVOCDataset
    from PIL import Image

    cfg, opts, ckpt = smoke_run(config, tree_root(miniature, config), '2it', 'mIoU', str(tmp_path))
    classes = list(PascalVOCDataset.METAINFO['classes'])
    assert checkpoint_classes(ckpt) == classes

    model = init_model(cfg.filename, ckpt, device='cpu', cfg_options=opts)
    assert list(model.dataset_meta['classes']) == classes  # read from the checkpoint
    image = image_of(tree_root(miniature, config))
    mask = inference_model(model, image).pred_sem_seg.data
    width, height = Image.open(image).size
    assert tuple(mask.shape) == (1, height, width)
    assert 0 <= int(mask.min()) and int(mask.max()) < len(classes)


@pytest.mark.parametrize(
    'config',
    ['resnet/resnet50-ela-b_8xb32_in1k.py', 'mobilenet_v2/mobilenet-v2-ela-s_8xb32_in1k.py'],
)
def test_classification_family_end_to_end(config, miniature, tmp_path):
    from mmpretrain import ImageClassificationInferencer
    from mmpretrain.datasets import ImageNet

    root = tree_root(miniature, config)
    cfg, opts, ckpt = smoke_run(config, root, '2e', 'accuracy/top1', str(tmp_path))
    classes = list(ImageNet.METAINFO['classes'])
    assert checkpoint_classes(ckpt) == classes

    cfg.merge_from_dict(opts)
    # (the inferencer builds its pipeline in the current default scope, which mmseg's
    # init_model above, in this process, left at 'mmseg'; a fresh process has none)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        inferencer = ImageClassificationInferencer(model=cfg, pretrained=ckpt, device='cpu')
        result = inferencer(image_of(root))[0]
    assert list(inferencer.classes) == classes  # read from the checkpoint
    assert result['pred_scores'].shape == (len(classes),)
    assert result['pred_class'] == classes[result['pred_label']]
