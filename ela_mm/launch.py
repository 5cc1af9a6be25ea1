"""What tools/train.py and tools/test.py share: argument handling that mmdet, mmseg and
mmpretrain users know, CPU-friendly distributed start-up, and data-folder checks."""
import os
import os.path as osp
from typing import Iterator, List, Optional

import torch
from mmengine.config import Config, DictAction

from ela_mm.runtime import load_config

DATA_DOCS = {
    'toy_voc': 'python tools/misc/make_toy_voc.py  (or: make demo)',
    'coco': 'README.md, section "Datasets" (COCO 2017)',
    'VOCdevkit': 'README.md, section "Datasets" (Pascal VOC 07+12 / VOC 2012 aug)',
    'imagenet': 'README.md, section "Datasets" (ImageNet-1k)',
}


def add_common_args(parser) -> None:
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (list items: a.0.b=v)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (mmengine)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def setup_config(args, default_work_dir_root: str = 'work_dirs') -> Config:
    """Load the config, apply --cfg-options, pick the work dir and the launcher."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = load_config(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join(default_work_dir_root,
                                osp.splitext(osp.basename(args.config))[0])
    if args.launcher != 'none' and not torch.cuda.is_available():
        _init_cpu_distributed(cfg)
    return cfg


def build_runner(cfg: Config):
    """The runner the config asks for (``runner_type``), else mmengine's ``Runner``."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def _init_cpu_distributed(cfg: Config) -> None:
    """mmengine's launchers call torch.cuda.set_device, which fails without a GPU. On a CPU host
    start the process group ourselves (gloo); the Runner then finds it initialised. The model
    wrapper is told that the model lives on the CPU (DDP wants no device_ids then)."""
    import torch.distributed as dist
    from mmengine.dist import init_dist
    if not dist.is_initialized():
        if cfg.launcher == 'pytorch':
            dist.init_process_group(backend='gloo')
        else:  # slurm / mpi set up their own environment variables first
            init_dist(cfg.launcher, backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def _datasets(cfg) -> Iterator[dict]:
    """Every dataset config under the config's dataloaders, wrappers included."""
    def walk(d):
        if not isinstance(d, dict):
            return
        if 'datasets' in d:
            for x in d['datasets']:
                yield from walk(x)
        elif 'dataset' in d:
            yield from walk(d['dataset'])
        else:
            yield d
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            yield from walk(loader.get('dataset'))


def check_data(cfg: Config, loaders: Optional[List[str]] = None) -> None:
    """Fail early, naming the missing folder and how to prepare it, instead of deep inside a
    dataset class."""
    for ds in _datasets(cfg if loaders is None else
                        Config({k: cfg[k] for k in loaders if cfg.get(k)})):
        root = ds.get('data_root') or ''
        prefix = ds.get('data_prefix') or {}
        paths = [root] if root else []
        if ds.get('ann_file'):
            paths.append(osp.join(root, ds['ann_file']))
        sub = prefix.get('sub_data_root') or prefix.get('img_path') or prefix.get('img')
        if sub:
            paths.append(osp.join(root, sub))
        for p in paths:
            if p and '://' not in p and not osp.exists(p):
                hint = next((v for k, v in DATA_DOCS.items() if k in p),
                            'README.md, section "Datasets"')
                raise FileNotFoundError(
                    f'dataset path {p!r} does not exist (dataset {ds.get("type")}, '
                    f'data_root {root!r}). Prepare it with: {hint}; or point the config at '
                    f'your copy with --cfg-options, e.g. train_dataloader.dataset.data_root=...')


def check_checkpoint(model: torch.nn.Module, path: str) -> dict:
    """Refuse a checkpoint whose weights do not fit the model (missing or unexpected keys,
    other shapes): mmengine would only warn and then evaluate a half-initialised model.
    Returns the checkpoint's state dict (``module.`` prefixes removed)."""
    ckpt = torch.load(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    state = {k[7:] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state)
                    if hasattr(state[k], 'shape') and state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        def few(keys):
            return ', '.join(keys[:5]) + (f' (+{len(keys) - 5} more)' if len(keys) > 5 else '')
        problems = [f'{len(keys)} {what}: {few(keys)}' for what, keys in
                    (('missing keys', missing), ('unexpected keys', unexpected),
                     ('keys with other shapes', shapes)) if keys]
        raise ValueError(
            f'checkpoint {path!r} does not match the model built from this config: '
            + '; '.join(problems) + '. Use the config the checkpoint was trained with (same '
            'attention type, variant and insertion stages, same number of classes).')
    return state
