"""What tools/train.py and tools/test.py share after parsing their arguments (tools/cli_args.py):
the config with --cfg-options and --data-root applied, CPU-friendly distributed start-up, and the
runner."""

import os
import os.path as osp
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config

from .config import load_config, resolve_config
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
    'sync_bn',
    'find_unused_parameters',
    'activation_checkpointing',
    'efficient_conv_bn_eval',
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


def apply_config_variables(cfg: Config, options: dict, args) -> dict:
    """``--cfg-options`` keys that are top-level variables of the config file (mmengine already
    substituted them where the file used them, so setting them changes nothing): ``data_root``
    is applied as ``--data-root`` (what the user meant), any other stops the run, naming the
    dotted keys that hold its value. Returns the options left to merge."""
    options = dict(options)
    for key in list(options):
        if '.' in key or key in RUNNER_KEYS or key not in cfg:
            continue
        holders = _keys_holding(cfg.to_dict(), cfg[key])
        if key == 'data_root' and hasattr(args, 'data_root'):
            value = options.pop(key)
            if args.data_root and args.data_root != value:
                raise SystemExit(
                    f'--cfg-options data_root={value} and --data-root {args.data_root} disagree: '
                    f'pass only --data-root DIR'
                )
            print(
                f'--cfg-options data_root={value}: data_root is a variable of the config file, '
                f'already substituted where the file used it; applied as --data-root {value}',
                flush=True,
            )
            args.data_root = value
            continue
        raise SystemExit(
            f'--cfg-options {key}=...: {key!r} is a variable of the config file, already '
            f'substituted where the file used it; changing it would change nothing. Set the '
            f'dotted keys that use it instead'
            + (f': {", ".join(f"{h}=..." for h in holders[:8])}' if holders else '')
        )
    return options


def fix_persistent_workers(cfg: Config) -> List[str]:
    """``num_workers=0`` with ``persistent_workers=True`` (the shipped configs' default) is an
    error in torch's DataLoader: switch persistent workers off for such loaders, saying so."""
    out = []
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict) and loader.get('num_workers') == 0:
            if loader.get('persistent_workers'):
                loader['persistent_workers'] = False
                out.append(name)
    if out:
        print(
            f'num_workers=0: persistent_workers set to False for {", ".join(out)} (torch needs '
            f'worker processes to keep them)',
            flush=True,
        )
    return out


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
    try:
        args.config = resolve_config(args.config)
    except FileNotFoundError as e:
        raise SystemExit(str(e)) from None
    cfg = load_config(args.config)
    if args.cfg_options:
        options = apply_config_variables(cfg, args.cfg_options, args)
        cfg.merge_from_dict(options)
    fix_persistent_workers(cfg)
    if getattr(args, 'data_root', None):
        if not osp.isdir(args.data_root):
            what = 'is a file, not a folder' if osp.exists(args.data_root) else 'does not exist'
            raise SystemExit(
                f'--data-root {args.data_root} {what} (relative to the current folder '
                f'{os.getcwd()}): pass the folder that holds your copy of the dataset'
                + (
                    ' (the toy set: python tools/misc/make_toy_voc.py --out DIR)'
                    if 'toy' in args.data_root
                    else ''
                )
            )
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


def resume_schedule(given, record: dict, where: str, command: str):
    """The ``--schedule`` a resumed run must train with: the one it was started with (from its
    run record, ``where``), re-applied when ``given`` is None, saying so; a ``SystemExit`` with
    the command to use when ``given`` differs (the learning rate, warm-up and mode switch would
    jump to another recipe midway). Runs without a record keep ``given``."""
    if not record or 'schedule' not in record:
        return given
    started = record.get('schedule')
    if given == started:
        return given
    if given is None:
        print(
            f'--resume: this run was started with --schedule {started} ({where}): re-applying '
            f'it, so that the learning rate and the phase switches continue where they were',
            flush=True,
        )
        return started
    fix = f'{command} --schedule {started}' if started else command
    raise SystemExit(
        f'--resume with --schedule {given}: this run was started with '
        f'{f"--schedule {started}" if started else "the config" + chr(39) + "s own schedule"} '
        f'({where}); resuming it with another length would jump to another learning-rate '
        f'schedule midway. Resume with: {fix}  (or train the new schedule in a new --work-dir)'
    )


def checkpoint_length(ckpt) -> Optional[Tuple[str, int]]:
    """``('max_epochs' | 'max_iters', n)`` of the config a checkpoint was written with (mmengine
    stores it in ``meta['cfg']``), or ``None``."""
    import re

    text = ckpt.get('meta', {}).get('cfg') if isinstance(ckpt, dict) else None
    if not isinstance(text, str):
        return None
    try:
        train_cfg = Config.fromstring(text, file_format='.py').get('train_cfg') or {}
    except Exception:  # noqa: BLE001  (an unparsable text: fall back to a plain search)
        m = re.search(r'train_cfg\s*=\s*dict\(([^)]*)', text)
        found = re.search(r'(max_epochs|max_iters)\s*=\s*(\d+)', m[1]) if m else None
        return (found[1], int(found[2])) if found else None
    for key in ('max_epochs', 'max_iters'):
        if isinstance(train_cfg.get(key), int):
            return key, train_cfg[key]
    return None


def close_distributed() -> None:
    """Tear down the process group a distributed run started (mmengine leaves it open): without
    it gloo's threads may outlive the interpreter's shutdown and abort the process
    ("terminate called without an active exception") after a successful run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        import gc

        gc.collect()  # a released DDP wrapper's reducer goes before the group it holds
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
