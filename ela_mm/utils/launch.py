"""What tools/train.py and tools/test.py share: argument handling that mmdet, mmseg and
mmpretrain users know, CPU-friendly distributed start-up, and the runner."""

import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from .config import load_config


def add_common_args(parser) -> None:
    parser.add_argument('--work-dir', help='folder for logs and checkpoints')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, key=value (list items: a.0.b=v)',
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher (mmengine)',
    )
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
        cfg.work_dir = osp.join(default_work_dir_root, osp.splitext(osp.basename(args.config))[0])
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
