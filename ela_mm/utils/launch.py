"""What tools/train.py and tools/test.py share after parsing their arguments (tools/cli_args.py):
the config with --cfg-options and --data-root applied, CPU-friendly distributed start-up, and the
runner."""

import os
import os.path as osp
from typing import List

import torch
from mmengine.config import Config

from .config import load_config
from .data_check import paths_outside, set_data_root

#: the top-level config keys mmengine's Runner (and tools/test.py) read after loading
RUNNER_KEYS = {
    'model',
    'work_dir',
    'train_dataloader',
    'val_dataloader',
    'test_dataloader',
    'train_cfg',
    'val_cfg',
    'test_cfg',
    'auto_scale_lr',
    'optim_wrapper',
    'param_scheduler',
    'val_evaluator',
    'test_evaluator',
    'default_hooks',
    'custom_hooks',
    'data_preprocessor',
    'load_from',
    'resume',
    'launcher',
    'env_cfg',
    'log_processor',
    'log_level',
    'visualizer',
    'default_scope',
    'randomness',
    'experiment_name',
    'runner_type',
    'model_wrapper_cfg',
    'compile',
    'tta_model',
    'tta_pipeline',
    'custom_imports',
}
#: what torchrun sets for every process of mmengine's 'pytorch' launcher
TORCHRUN_ENV = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def _keys_holding(cfg, value, prefix: str = '') -> List[str]:
    """Dotted keys of ``cfg`` whose value equals ``value`` (lists by index)."""
    out = []
    items = cfg.items() if isinstance(cfg, dict) else enumerate(cfg)
    for k, v in items:
        key = f'{prefix}.{k}' if prefix else str(k)
        if isinstance(v, (dict, list, tuple)):
            out += _keys_holding(v, value, key)
        elif v == value and prefix:
            out.append(key)
    return out


def warn_unread_options(cfg: Config, options: dict) -> List[str]:
    """Warn about --cfg-options keys that are top-level variables of the config file: mmengine
    substituted them where the file used them, and nothing reads them after loading."""
    warned = []
    for key in options:
        if '.' in key or key in RUNNER_KEYS or key not in cfg:
            continue
        holders = _keys_holding(cfg.to_dict(), cfg[key])
        fix = '--data-root DIR' if key == 'data_root' else 'the dotted keys'
        print(
            f'WARNING: --cfg-options {key}=...: {key!r} is a variable of the config file, '
            f'already substituted where the file used it; changing it now changes nothing. '
            f'Use {fix}' + (f' (it is used at: {", ".join(holders[:8])})' if holders else ''),
            flush=True,
        )
        warned.append(key)
    return warned


def check_launcher_env(launcher: str) -> None:
    """``--launcher pytorch`` without torchrun's environment fails late and obscurely."""
    missing = [k for k in TORCHRUN_ENV if k not in os.environ]
    if launcher == 'pytorch' and missing:
        raise SystemExit(
            f'--launcher pytorch expects the environment torchrun sets for each process '
            f'({", ".join(missing)} missing). Start distributed runs with '
            f'`bash tools/dist_train.sh CONFIG NUM_PROCESSES` (or tools/dist_test.sh), or drop '
            f'--launcher for one process'
        )


def cfg_get(cfg, key: str):
    """The value at a dotted key, list items by index (``'test_evaluator.0.ann_file'``)."""
    for part in key.split('.'):
        cfg = cfg[int(part)] if isinstance(cfg, (list, tuple)) else cfg[part]
    return cfg


def setup_config(args, default_work_dir_root: str = 'work_dirs') -> Config:
    """Load the config, apply --cfg-options and --data-root, pick the work dir and the
    launcher."""
    check_launcher_env(args.launcher)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = load_config(args.config)
    if args.cfg_options:
        warn_unread_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    if getattr(args, 'data_root', None):
        changed = set_data_root(cfg, args.data_root)
        print(f'--data-root {args.data_root}: set {", ".join(changed)}', flush=True)
        moved = [k for k in changed if not k.endswith('.data_root')]
        for key in moved:  # evaluators' files: say where they are read from now
            print(f'--data-root: {key} = {cfg_get(cfg, key)}', flush=True)
        for line in paths_outside(cfg, args.data_root):
            print(
                f'WARNING: --data-root {args.data_root}: {line} is not under {args.data_root}: '
                f'this run reads it from there (set it with --cfg-options)',
                flush=True,
            )
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


RUN_RECORD = 'run.json'


def write_run_record(cfg: Config, args) -> dict:
    """``<work_dir>/run.json``: what a training run computes (``config_hash``), on which data
    (the toy set's stamp), with which seed, schedule and options; tools/collect_grid.py copies
    it into the metafiles, where it tells a current result from a stale one."""
    import json

    from .model_index import config_hash, data_stamp

    record = dict(
        config=args.config,
        config_hash=config_hash(cfg),
        data=data_stamp(cfg),
        seed=cfg.get('randomness', {}).get('seed'),
        schedule=getattr(args, 'schedule', None),
        cfg_options=args.cfg_options or {},
        data_root=getattr(args, 'data_root', None),
    )
    os.makedirs(cfg.work_dir, exist_ok=True)
    with open(osp.join(cfg.work_dir, RUN_RECORD), 'w') as f:
        json.dump(record, f, indent=2, default=repr)
    return record


def close_distributed() -> None:
    """Tear down the process group a distributed run started (mmengine leaves it open): without
    it gloo's threads may outlive the interpreter's shutdown and abort the process
    ("terminate called without an active exception") after a successful run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


#: what CPU distributed runs do with SyncBN (README "Training and testing" says the same)
SYNCBN_NOTE = (
    'SyncBN on CPU: {n} SyncBatchNorm layer(s) of this model run as BatchNorm in this CPU '
    "distributed run (torch's SyncBatchNorm needs CUDA, and DDP refuses it on CPU): each "
    "process normalises with the statistics of its own batch, and DDP copies rank 0's running "
    'statistics to the other processes at every step. Weights stay SyncBN-compatible: a '
    'checkpoint loads into the SyncBN model on GPUs unchanged.'
)
SYNCBN_TYPES = ('SyncBN', 'MMSyncBN', 'TorchSyncBN')


def _count_sync_bn(model) -> int:
    import torch.nn as nn

    kinds = [nn.SyncBatchNorm]
    try:
        from mmcv.ops import SyncBatchNorm as MMCVSyncBN

        kinds.append(MMCVSyncBN)
    except ImportError:
        pass
    return sum(isinstance(m, tuple(kinds)) for m in model.modules())


def _register_cpu_wrapper():
    """``CPUDistributedDataParallel``: mmengine's DDP wrapper after reverting SyncBN to BN."""
    from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
    from mmengine.registry import MODEL_WRAPPERS

    if 'CPUDistributedDataParallel' in MODEL_WRAPPERS.module_dict:
        return

    @MODEL_WRAPPERS.register_module()
    class CPUDistributedDataParallel(MMDistributedDataParallel):
        """MMDistributedDataParallel for CPU processes (gloo): SyncBN layers become BN first,
        with a printed note (:data:`SYNCBN_NOTE`)."""

        def __init__(self, module, **kwargs):
            n = _count_sync_bn(module)
            if n:
                module = revert_sync_batchnorm(module)
                left = _count_sync_bn(module)
                if left:
                    raise RuntimeError(
                        f'{left} SyncBatchNorm layer(s) could not be turned into BatchNorm for '
                        f'this CPU distributed run (mmengine revert_sync_batchnorm): train on '
                        f'GPUs, or in one process (no --launcher; SyncBN runs as BN there)'
                    )
                if int(os.environ.get('RANK', 0)) == 0:
                    print(SYNCBN_NOTE.format(n=n), flush=True)
            super().__init__(module=module, **kwargs)


def _sync_bn_in_config(cfg, key: str = 'model') -> List[str]:
    """Replace every ``type='SyncBN'`` (and mmcv's) under ``cfg[key]`` by ``'BN'``; return the
    dotted keys changed."""
    out = []

    def walk(d, prefix):
        items = d.items() if isinstance(d, dict) else enumerate(d)
        for k, v in items:
            if isinstance(v, (dict, list)):
                walk(v, f'{prefix}.{k}')
            elif k == 'type' and isinstance(v, str) and v.split('.')[-1] in SYNCBN_TYPES:
                d[k] = 'BN'
                out.append(f'{prefix}.type')

    walk(cfg[key], key)
    return out


def _init_cpu_distributed(cfg: Config) -> None:
    """mmengine's launchers call torch.cuda.set_device, which fails without a GPU. On a CPU host
    start the process group ourselves (gloo); the Runner then finds it initialised. The model
    wrapper is told that the model lives on the CPU (DDP wants no device_ids then) and turns
    SyncBN layers into BN (torch's SyncBatchNorm is CUDA-only), saying so."""
    import torch.distributed as dist
    from mmengine.dist import init_dist

    if not dist.is_initialized():
        if cfg.launcher == 'pytorch':
            dist.init_process_group(backend='gloo')
        else:  # slurm / mpi set up their own environment variables first
            init_dist(cfg.launcher, backend='gloo')
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    rank0 = dist.get_rank() == 0
    if cfg.get('sync_bn'):  # the Runner would turn every BN into SyncBN
        if rank0:
            print(f'SyncBN on CPU: sync_bn={cfg.sync_bn!r} ignored (SyncBN needs CUDA)', flush=True)
        cfg.sync_bn = None
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    if str(wrapper.get('type')).split('.')[-1] == 'MMDistributedDataParallel':
        _register_cpu_wrapper()
        wrapper['type'] = 'CPUDistributedDataParallel'
    else:  # the config's own wrapper: revert SyncBN in the model's config instead
        changed = _sync_bn_in_config(cfg)
        if changed and rank0:
            print(
                SYNCBN_NOTE.format(n=len(changed)) + ' Changed: ' + ', '.join(changed),
                flush=True,
            )
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
