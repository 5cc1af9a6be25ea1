# ResNet-18 on the toy classification set (tools/misc/make_toy_voc.py writes it beside the toy
# VOC set: every clearly visible object that dominates its crop, cut out at 64x64 in ImageNet's
# layout, three shape classes, colour independent of the class; the training crops also come
# from 4,200 images drawn for classification alone): the plain baseline of the toy
# classification comparison, the real ResNet-18 config (configs/resnet/resnet18_8xb32_in1k.py)
# with only data, input size and schedule changed. Every toy attention row inherits this file and
# adds its module exactly as its real config does. Model (ImageNet ResNet-18: 7x7 stem, max-pool,
# four stages), loss and evaluator (mmpretrain's Accuracy) as the real one.
_base_ = '../resnet/resnet18_8xb32_in1k.py'

from ela_mm.datasets.toy_voc import toy_metainfo  # noqa: E402  (the toy classes)

data_root = 'data/toy_voc/classification'
metainfo = dict(classes=toy_metainfo()['classes'])
num_classes = len(metainfo['classes'])
crop = 64

model = dict(head=dict(num_classes=num_classes, topk=(1,)))
data_preprocessor = dict(num_classes=num_classes)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.8, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # the toy shapes are axis-aligned (a triangle's apex on any of the four sides): a vertical
    # flip keeps the class and the distribution
    dict(type='RandomFlip', prob=0.5, direction='vertical'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop, edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]


def _split(split, pipeline):
    """ImageNet's dataset class on one split: its folder and its meta/<split>.txt."""
    return dict(
        type='ImageNet',
        data_root=data_root,
        data_prefix=split,
        ann_file=f'meta/{split}.txt',
        metainfo=metainfo,
        pipeline=pipeline,
    )


train_dataloader = dict(
    batch_size=32, num_workers=2, dataset=dict(_delete_=True, **_split('train', train_pipeline))
)
val_dataloader = dict(
    batch_size=64, num_workers=2, dataset=dict(_delete_=True, **_split('val', test_pipeline))
)
test_dataloader = dict(
    batch_size=64, num_workers=2, dataset=dict(_delete_=True, **_split('test', test_pipeline))
)
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator

# ---- schedule: 700 iterations of batch 32 (22,400 images, about two passes over the 10,965
# toy training crops), AdamW (the real recipe: SGD with momentum, 100 epochs, steps at 30/60/90,
# learning rate 0.1 for batch 256; from scratch in a few hundred steps SGD at 0.05 reached 80%
# top-1 where AdamW reaches 97% on the toy val split), a 100-iteration linear warm-up and a
# cosine decay
max_iters = 700
base_lr = 3e-3
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=base_lr, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.01,
        by_epoch=False,
        begin=100,
        T_max=max_iters - 100,
        end=max_iters,
    ),
]
train_cfg = dict(_delete_=True, by_epoch=False, max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=32)  # the batch this learning rate was tuned for
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1), logger=dict(interval=20)
)
log_processor = dict(by_epoch=False)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
