# DeepLabV3 R50-D8 + ELA-B on the toy VOC-format dataset (tools/misc/make_toy_voc.py): the real
# segmentation config with only data, crop size and schedule changed (and no pretrained
# download), so that it trains on 2 CPU cores in minutes; R50-D8 is heavy, hence 64x64 crops.
# The toy masks use VOC class indices; metainfo selects the 3 toy classes and mmseg's
# PascalVOCDataset remaps them (label_map), as it would for a subset of real VOC.
_base_ = '../deeplabv3/deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512.py'

data_root = 'data/toy_voc/VOC2007'
metainfo = dict(
    classes=('background', 'aeroplane', 'bicycle', 'bird'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]])
crop_size = (64, 64)
img_scale = (160, 80)

model = dict(
    pretrained=None,  # the toy run trains from scratch, offline
    data_preprocessor=dict(size=crop_size),
    decode_head=dict(num_classes=4),
    auxiliary_head=dict(num_classes=4))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
toy_dataset = dict(
    type='PascalVOCDataset',
    data_root=data_root,
    metainfo=metainfo,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'))
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(_delete_=True, ann_file='ImageSets/Segmentation/train.txt',
                 pipeline=train_pipeline, **toy_dataset))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    dataset=dict(ann_file='ImageSets/Segmentation/val.txt', pipeline=test_pipeline,
                 **toy_dataset))
test_dataloader = val_dataloader

# schedule: 300 iterations (upstream: 20k), same poly decay
train_cfg = dict(max_iters=300, val_interval=300)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=300,
                        by_epoch=False)]
default_hooks = dict(checkpoint=dict(interval=100, max_keep_ckpts=2),
                     logger=dict(interval=10))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
