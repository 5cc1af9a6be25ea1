# YOLOX-Nano on the toy VOC-format dataset (tools/misc/make_toy_voc.py): the plain baseline of the
# toy detection comparison, the real detection config
# (configs/yolox/yolox_nano_8xb8-300e_voc0712.py) with only data, input size and schedule changed:
# 24 epochs of the 1,600 toy training images at batch 16 (2,400 iterations, 38,400 images seen),
# validated on the toy val split and tested on the toy test split. Every toy attention row
# inherits this file and adds its module exactly as its real config does. Model, augmentation
# pipeline and hooks: as the real one.
_base_ = '../yolox/yolox_nano_8xb8-300e_voc0712.py'

from ela_mm.datasets.toy_voc import toy_metainfo  # noqa: E402  (the toy classes and palette)

data_root = 'data/toy_voc/'
metainfo = toy_metainfo()

# ---- size: the toy images are small, so the input and its multi-scale range shrink with them
img_scale = (160, 160)
model = dict(
    data_preprocessor=dict(
        batch_augments=[
            dict(
                type='BatchSyncRandomResize',
                random_size_range=(128, 192),
                size_divisor=32,
                interval=10,
            )
        ]
    ),
    bbox_head=dict(num_classes=len(metainfo['classes'])),
)

train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(
        type='RandomAffine',
        scaling_ratio_range=(0.5, 1.5),
        border=(-img_scale[0] // 2, -img_scale[1] // 2),
    ),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]

# ---- data: the toy set, one VOC2007-style folder with disjoint train / val / test splits
train_dataset = None  # upstream's COCO training set variable; the data is train_dataloader's
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        pipeline=train_pipeline,
        dataset=dict(
            _delete_=True,
            type='VOCDataset',
            data_root=data_root,
            metainfo=metainfo,
            ann_file='VOC2007/ImageSets/Main/train.txt',
            data_prefix=dict(sub_data_root='VOC2007/'),
            filter_cfg=dict(filter_empty_gt=False, min_size=4),
            pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)],
        ),
    ),
)


def _evaluated(split):
    """The dataloader of an evaluated split (val or test), over upstream's VOC dataset."""
    return dict(
        batch_size=8,
        num_workers=2,
        dataset=dict(
            data_root=data_root,
            metainfo=metainfo,
            ann_file=f'VOC2007/ImageSets/Main/{split}.txt',
            data_prefix=dict(sub_data_root='VOC2007/'),
            pipeline=test_pipeline,
        ),
    )


val_dataloader = _evaluated('val')
test_dataloader = _evaluated('test')

# ---- schedule: 24 epochs of 100 iterations, batch 16, SGD (upstream's momentum, Nesterov and
# weight decay) at a learning rate of 0.04 (upstream: 0.01 for batch 64 over 300 epochs; a short
# run from scratch needs a larger step), a one-epoch warm-up, the cosine decay to 5% over the
# rest, and Mosaic for the first two thirds (upstream: all but the last 15 of 300 epochs).
max_epochs = 24
num_last_epochs = 8
base_lr = 0.04
train_cfg = dict(max_epochs=max_epochs, val_interval=6)
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=1,
        T_max=max_epochs - 1,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True,
    ),
]
auto_scale_lr = dict(base_batch_size=16)  # the batch this learning rate was tuned for
# drawings (tools/test.py --show-dir): boxes scoring at least 0.3, with class and score
default_hooks = dict(
    checkpoint=dict(interval=6, max_keep_ckpts=2),
    logger=dict(interval=5),
    visualization=dict(score_thr=0.3),
)
custom_hooks = [
    dict(type='YOLOXModeSwitchHook', num_last_epochs=num_last_epochs, priority=48),
    dict(type='SyncNormHook', priority=48),
    dict(
        type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, update_buffers=True, priority=49
    ),
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))

# ---- test-time augmentation (--tta): the scales of the toy input range, not the 320-960 px of
# the 416 px model upstream (a 160 px model tested at those loses most of its boxes)
tta_scales = [img_scale, (128, 128), (192, 192)]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale=s, keep_ratio=True) for s in tta_scales],
            [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
            [dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0)))],
            [dict(type='LoadAnnotations', with_bbox=True)],
            [
                dict(
                    type='PackDetInputs',
                    meta_keys=(
                        'img_id',
                        'img_path',
                        'ori_shape',
                        'img_shape',
                        'scale_factor',
                        'flip',
                        'flip_direction',
                    ),
                )
            ],
        ],
    ),
]
