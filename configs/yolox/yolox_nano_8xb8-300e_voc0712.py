# YOLOX-Nano on Pascal VOC 07+12 (mmdet ships no YOLOX VOC recipe; this is ours): the plain
# baseline of the attention comparison. Every attention row inherits this file.
#
# Choices, and why:
# * Model, optimiser, augmentation, schedule and hooks are the upstream YOLOX-Nano COCO recipe
#   unchanged, so that VOC results compare with COCO results of the same recipe and the
#   attention modules are the only change (YOLOX's own VOC example also keeps the COCO epochs).
# * Data: train on VOC2007 trainval + VOC2012 trainval, evaluate on VOC2007 test with
#   VOCMetric's 11-point mAP@0.5, as the VOC2007 protocol (and mmdet's VOC configs) do. Only the
#   number of classes changes in the head.
# * VOC images keep the "difficult" flags as ignored instances (VOCMetric skips them).
_base_ = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'

custom_imports = dict(imports=['ela_mm'], allow_failed_imports=False)

dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'
backend_args = None

model = dict(bbox_head=dict(num_classes=20))


def _voc(year, split, **kwargs):
    return dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=f'VOC{year}/ImageSets/Main/{split}.txt',
        data_prefix=dict(sub_data_root=f'VOC{year}/'),
        backend_args=backend_args,
        **kwargs,
    )


train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='ConcatDataset',
            # VOC2007 and VOC2012 differ in their 'dataset_type' meta only: without this the
            # concatenation's meta (saved in every checkpoint) is a list of both, which mmdet's
            # init_detector / DetInferencer cannot read (as mmdet's own voc0712.py does)
            ignore_keys=['dataset_type'],
            # the inner loading pipeline of the upstream MultiImageMixDataset
            datasets=[
                _voc(
                    year,
                    'trainval',
                    filter_cfg=dict(filter_empty_gt=False, min_size=32),
                    pipeline=[
                        dict(type='LoadImageFromFile', backend_args=backend_args),
                        dict(type='LoadAnnotations', with_bbox=True),
                    ],
                )
                for year in ('2007', '2012')
            ],
        )
    )
)

val_dataloader = dict(
    dataset=dict(
        _delete_=True, test_mode=True, pipeline={{_base_.test_pipeline}}, **_voc('2007', 'test')
    )
)
test_dataloader = val_dataloader

val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator
