# DeepLabV3 R50-D8 on the toy VOC-format dataset (tools/misc/make_toy_voc.py): the plain baseline
# of the toy segmentation comparison, the real segmentation config with only data, size and
# schedule changed, so that it trains from scratch on CPU: 3,000 iterations of batch 8 (24,000
# crops). Every toy attention row inherits this file and adds its module exactly as its real
# config does.
# Architecture as the real one: ResNetV1c-50 with its dilations, ASPP head, FCN auxiliary head,
# same losses and augmentations.
#   size:     smaller crops (the toy images are small) and a quarter of the channels (stem and
#             base width; the heads follow), no pretrained download. At full width R50-D8 costs
#             ~0.25 s per 64x64 sample here and still predicted (almost) only background after a
#             few hundred iterations (docs/toy_comparison.md).
#   scale:    the toy images (128-192 px) are resized to 384 px before the random rescale (0.5-1x)
#             and the 128 px crop, and tested at 384 px: the thin ring outlines and small objects
#             then span several output pixels of the stride-8 head (at their own scale the ring
#             class was never learned).
#   schedule: 3,000 iterations with AdamW (the real one: SGD), linear warm-up over 300, then the
#             same poly decay.
#   data:     the toy classes through metainfo; mmseg's PascalVOCDataset remaps the VOC class
#             indices of the masks (label_map), as it would for a subset of real VOC.
_base_ = '../deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'

from ela_mm.datasets.toy_voc import toy_metainfo  # noqa: E402  (the toy classes and palette)

data_root = 'data/toy_voc/VOC2007'
metainfo = toy_metainfo(segmentation=True)
crop_size = (128, 128)
img_scale = (384, 384)  # the toy images are 128-192 px: shown at twice their size

model = dict(
    pretrained=None,  # trained from scratch, offline
    data_preprocessor=dict(size=crop_size),
    backbone=dict(stem_channels=16, base_channels=16),
    decode_head=dict(in_channels=512, channels=128, num_classes=len(metainfo['classes'])),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=len(metainfo['classes'])),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 1.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
toy_dataset = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    metainfo=metainfo,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        _delete_=True,
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline,
        **toy_dataset,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline, **toy_dataset),
)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(ann_file='ImageSets/Segmentation/test.txt', pipeline=test_pipeline, **toy_dataset),
)

max_iters = 3000
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, begin=0, end=300, by_epoch=False),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=300, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=500)
auto_scale_lr = dict(enable=False, base_batch_size=8)  # the batch this learning rate was tuned for
default_hooks = dict(checkpoint=dict(interval=500, max_keep_ckpts=1), logger=dict(interval=50))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# drawings (--show-dir): the masks at half opacity over the image (upstream: 0.8 hides the
# image under the black background class)
visualizer = dict(alpha=0.5)
