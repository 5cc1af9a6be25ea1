"""Helpers of the end-to-end family tests (test_families_*.py): a real config as a user smoke-tests
it on the miniature real-layout trees, with tools/train.py, tools/test.py and the upstream
inference API. The only overrides are those of a smoke run: schedule, batch, workers, image scale
(every size in the pipelines, the mode-switch hooks and the data preprocessor, divided by
``SHRINK``) and pretrained weights; dataset types, annotation files, prefixes and evaluators are
the config's own (``test_families_*`` checks that no override touches them)."""

import glob
import json
import os
import os.path as osp
import re
import sys
from typing import Any, Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: the option names that hold an image size in mmdet/mmseg/mmpretrain transforms, the switch
#: hooks' pipelines and the batch augments / data preprocessors
SIZE_KEYS = ('scale', 'img_scale', 'crop_size', 'size', 'border', 'random_size_range')
SHRINK = 4
#: where an image size can be: the three loaders, the hooks that switch pipelines, the model
SIZE_PLACES = ('train_dataloader', 'val_dataloader', 'test_dataloader', 'custom_hooks', 'model')
#: the keys no smoke override may touch
DATA_KEYS = ('type', 'ann_file', 'data_prefix', 'data_root', 'metainfo', 'outfile_prefix')


def _shrunk(value: Any) -> Optional[Any]:
    """An image size divided by SHRINK (toward zero, so borders stay negative), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value / SHRINK)
    if isinstance(value, (list, tuple)) and value and all(type(v) is int for v in value):
        return tuple(int(v / SHRINK) for v in value)
    return None


def size_options(cfg) -> Dict[str, Any]:
    """``--cfg-options`` keys (list positions included) that divide every image size of ``cfg``
    by SHRINK, found by walking where sizes are (SIZE_PLACES)."""
    found: Dict[str, Any] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in SIZE_KEYS and _shrunk(value) is not None:
                    found[f'{path}.{key}'] = _shrunk(value)
                else:
                    walk(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{path}.{i}')

    for place in SIZE_PLACES:
        walk(cfg.get(place), place)
    return found


def smoke_options(cfg) -> Dict[str, Any]:
    """Training batch 2, no worker processes, no pretrained weights, and the image sizes shrunk."""
    opts: Dict[str, Any] = {}
    opts['train_dataloader.batch_size'] = 2  # (val/test: the config's; mmseg's take 1 size)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.num_workers'] = 0
        if cfg[loader].get('persistent_workers'):
            opts[f'{loader}.persistent_workers'] = False
    if cfg.model.get('pretrained'):
        opts['model.pretrained'] = None
    if (cfg.model.get('backbone') or {}).get('init_cfg'):
        opts['model.backbone.init_cfg'] = None
    opts.update(size_options(cfg))
    return opts


def option_args(opts: Dict[str, Any]) -> List[str]:
    """``--cfg-options`` words as mmengine's DictAction reads them."""

    def text(v):
        return 'None' if v is None else str(v).replace(' ', '')

    return ['--cfg-options'] + [f'{k}={text(v)}' for k, v in opts.items()]


def run_tool(tool: str, args: List[str], cwd: str, work_dir: str) -> str:
    """``python tools/<tool> ARGS`` from ``cwd``, run in this process (each interpreter start-up
    with mmdet/mmseg/mmpretrain costs about 10 s); returns the run's log (its work dir's
    ``<timestamp>/<timestamp>.log``)."""
    import runpy

    from mmengine.visualization import Visualizer

    # as in a fresh process: every config names its visualizer 'visualizer', and mmengine hands
    # a second runner the first one's instance (writing into the first run's folder)
    classes = [Visualizer]
    while classes:
        cls = classes.pop()
        cls._instance_dict.clear()
        classes.extend(cls.__subclasses__())
    saved = sys.argv, os.getcwd(), list(sys.path)
    sys.argv = [tool, *args, '--work-dir', work_dir]
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    os.chdir(cwd)
    try:
        runpy.run_path(osp.join(ROOT, 'tools', tool))['main']()
    finally:
        sys.argv, sys.path[:] = saved[0], saved[2]
        os.chdir(saved[1])
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        return f.read()


def scalars(work_dir: str) -> List[dict]:
    """What mmengine's LocalVisBackend logged during training (one dict per line)."""
    paths = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


def final_metrics(work_dir: str) -> dict:
    """The final metrics mmengine's runner wrote for ``runner.test()``."""
    paths = [
        p
        for p in glob.glob(osp.join(work_dir, '*', '*.json'))
        if osp.basename(osp.dirname(p)) == osp.basename(p)[: -len('.json')]
    ]
    assert len(paths) == 1, paths
    with open(paths[0]) as f:
        return json.load(f)


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        path = f.read().strip()
    assert osp.isfile(path), path
    return path


def image_of(root: str) -> str:
    """One image of a miniature tree (its first .jpg/.JPEG, sorted)."""
    paths = sorted(glob.glob(osp.join(root, '**', '*.jp*g'), recursive=True))
    paths += sorted(glob.glob(osp.join(root, '**', '*.JPEG'), recursive=True))
    assert paths, root
    return paths[0]


#: what mmdet's CocoMetric prints whenever it evaluates, even when a barely trained detector
#: found nothing (it then logs "results ... empty" and reports no AP: no metric key to look for)
COCO_EVALUATING = 'Evaluating bbox...'


def evaluated(metric: str, logged: List[dict], text: str) -> bool:
    """The config's evaluator ran: its metric was logged, or (COCO) it said it was evaluating."""
    if metric.startswith('coco/'):
        return COCO_EVALUATING in text
    return any(metric in entry for entry in logged)


def smoke_run(config: str, data_root: str, schedule: str, metric: str, tmp: str):
    """tools/train.py for ``schedule`` on ``data_root`` (validating on the config's evaluator),
    then tools/test.py on its last checkpoint; returns (config, options, checkpoint)."""
    from ela_mm.utils.config import load_config

    path = osp.join(ROOT, 'configs', config)
    cfg = load_config(path)
    opts = smoke_options(cfg)
    train_dir, test_dir = osp.join(tmp, 'train'), osp.join(tmp, 'test')
    common = ['--data-root', data_root, *option_args(opts)]
    log = run_tool('train.py', [path, '--schedule', schedule, *common], tmp, train_dir)
    assert re.search(r'(Epoch|Iter)\(val\)', log), f'{config}: not validated during training'
    assert evaluated(metric, scalars(train_dir), log), config
    ckpt = last_checkpoint(train_dir)
    log = run_tool('test.py', [path, ckpt, *common], tmp, test_dir)
    assert evaluated(metric, [final_metrics(test_dir)], log), log[-2000:]
    return cfg, opts, ckpt


def tree_root(roots: Dict[str, str], config: str) -> str:
    """The miniature tree a config reads (ela_mm.datasets.miniature.CONFIG_TREES), from the
    roots ``generate_miniature`` returned."""
    from ela_mm.datasets.miniature import CONFIG_TREES

    return roots[next(t for end, t in CONFIG_TREES.items() if config.endswith(end))]


def checkpoint_classes(ckpt: str) -> List[str]:
    """The class names the runner stored in a checkpoint's meta."""
    import torch

    meta = torch.load(ckpt, map_location='cpu', weights_only=False)['meta']
    return list(meta['dataset_meta']['classes'])


#: the ELA row of each real family (the one each end-to-end test runs); the plain rows read the
#: same data (checked in test_families_det.py), so their runs would add nothing here
ELA_ROWS = (
    'yolox/yolox_nano-ela-t_8xb8-300e_coco.py',
    'yolox/yolox_nano-ela-t_8xb8-300e_voc0712.py',
    'rtmdet/rtmdet_tiny-ela-t_8xb32-300e_coco.py',
    'faster_rcnn/faster-rcnn_r50_fpn-ela-b_8xb2-1x_coco.py',
    'deeplabv3/deeplabv3_r50-d8-ela-b_4xb4-20k_voc12aug-512x512.py',
    'deeplabv3/deeplabv3_m-v2-d8-ela-s_4xb4-20k_voc12aug-512x512.py',
    'resnet/resnet50-ela-b_8xb32_in1k.py',
    'mobilenet_v2/mobilenet-v2-ela-s_8xb32_in1k.py',
)
#: the parts of a config that say what data a run reads and how it is scored
DATA_PARTS = (
    'train_dataloader',
    'val_dataloader',
    'test_dataloader',
    'val_evaluator',
    'test_evaluator',
)


def lookup(cfg, key: str) -> Any:
    """The value at a dotted ``--cfg-options`` key (list positions included); KeyError if the
    config has no such place (an option there would add a key nothing reads)."""
    node = cfg
    for part in key.split('.'):
        if isinstance(node, (list, tuple)):
            node = node[int(part)]
        elif part in node:
            node = node[part]
        else:
            raise KeyError(key)
    return node
