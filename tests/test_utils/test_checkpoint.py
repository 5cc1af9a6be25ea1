"""Checkpoints: mmengine's load through torch's safe loader once ela_mm is imported (and only
what mmengine writes is allowed); a checkpoint that does not fit the model is refused."""

import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import ela_mm  # noqa: F401  (installs the allowlist)
from ela_mm.utils.checkpoint import MMENGINE_SAFE_GLOBALS, check_checkpoint, read_checkpoint


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(-1) - labels) ** 2).mean())
        return out


def _dataset():
    return [dict(inputs=torch.randn(2), labels=torch.randn(())) for _ in range(8)]


def test_runner_checkpoint_loads_with_weights_only(tmp_path):
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') is None
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_dataset(),
            sampler=dict(type='DefaultSampler'),
            batch_size=4,
            collate_fn=dict(type='default_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        default_scope=None,
    )
    runner.train()
    path = tmp_path / 'epoch_2.pth'
    # the checkpoint holds mmengine's own objects, not just tensors
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert type(ckpt['message_hub']['log_scalars']['train/loss']).__name__ == 'HistoryBuffer'
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4
    # mmengine's own loader (no weights_only argument) goes through the same safe path
    model = ToyModel()
    load_checkpoint(model, str(path), map_location='cpu', strict=True)
    torch.testing.assert_close(model.linear.weight, runner.model.linear.weight)


class _Ref:
    """Pickles as ``func(*args)`` for a given ``(func, args)``; callable so it can be a func."""

    def __init__(self, func, *args):
        self.reduce = (func, args)

    def __reduce__(self):
        return self.reduce

    def __call__(self, *args):
        raise AssertionError('never called here')


class _Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /dev/null',))


def test_pickle_that_runs_code_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        torch.save({'state_dict': {}, 'meta': _Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(ToyModel(), str(path))


def test_getattr_cannot_reach_a_call(tmp_path):
    """getattr is allowlisted for HistoryBuffer; it must not open a path to running code:
    getattr(getattr(HistoryBuffer.__init__, '__globals__'), '__getitem__')('__builtins__')."""
    from mmengine.logging import HistoryBuffer

    init = _Ref(getattr, HistoryBuffer, '__init__')
    globs = _Ref(getattr, init, '__globals__')
    getitem = _Ref(getattr, globs, '__getitem__')
    path = tmp_path / 'chain.pth'
    torch.save({'meta': _Ref(getitem, '__builtins__')}, path)
    with pytest.raises(pickle.UnpicklingError, match='unrecognized function'):
        torch.load(path)


def test_allowlist_is_exactly_what_mmengine_writes():
    """Adding anything here widens what a downloaded file may make the loader do."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    names = sorted(
        g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
        for g in MMENGINE_SAFE_GLOBALS
    )
    dtypes = [
        f'{type(np.dtype(t)).__module__}.{type(np.dtype(t)).__qualname__}'
        for t in (
            np.float16,
            np.float32,
            np.float64,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.bool_,
        )
    ]
    recon = [
        f'{m}.multiarray.{fn.__name__}'
        for m in ('numpy.core', 'numpy._core')
        for fn in (multiarray._reconstruct, multiarray.scalar)
    ]
    plain = [
        f'{fn.__module__}.{fn.__qualname__}' for fn in (multiarray._reconstruct, multiarray.scalar)
    ]
    assert names == sorted(
        [
            f'{HistoryBuffer.__module__}.HistoryBuffer',
            'builtins.getattr',
            'numpy.ndarray',
            'numpy.dtype',
        ]
        + dtypes
        + recon
        + plain
    )


@pytest.mark.parametrize(
    'func,args',
    [
        (eval, ('1 + 1',)),
        (exec, ('x = 1',)),
        (__import__, ('os',)),
        (os.system, ('true',)),
        (getattr(os, 'popen'), ('true',)),
    ],
)
def test_pickles_that_call_builtins_are_refused(tmp_path, func, args):
    path = tmp_path / 'call.pth'
    torch.save({'state_dict': {}, 'meta': _Ref(func, *args)}, path)
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(path)


class _Net(nn.Module):
    def __init__(self, width=2):
        super().__init__()
        self.a = nn.Linear(2, width)
        self.b = nn.Linear(width, 1)


@pytest.mark.parametrize(
    'change,message',
    [
        (lambda s: s.pop('b.bias'), '1 missing keys: b.bias'),
        (lambda s: s.update(extra=torch.zeros(1)), '1 unexpected keys: extra'),
        (lambda s: s.update({'a.weight': torch.zeros(3, 2)}), '1 keys with other shapes: a.weight'),
    ],
)
def test_check_checkpoint_refuses_a_mismatch(tmp_path, change, message):
    state = _Net().state_dict()
    change(state)
    path = str(tmp_path / 'c.pth')
    torch.save({'state_dict': state}, path)
    with pytest.raises(ValueError, match=message) as e:
        check_checkpoint(_Net(), path)
    assert 'does not match the model built from this config' in str(e.value)


def test_check_checkpoint_accepts_a_fit_and_strips_ddp_prefixes(tmp_path):
    net = _Net()
    path = str(tmp_path / 'c.pth')
    torch.save({'state_dict': {f'module.{k}': v for k, v in net.state_dict().items()}}, path)
    state = check_checkpoint(_Net(), path)
    assert sorted(state) == sorted(net.state_dict())
    torch.testing.assert_close(state['a.weight'], net.a.weight.detach())


@pytest.mark.parametrize(
    'content,pattern',
    [
        (b'', 'is empty'),
        (b'GIF89a not a checkpoint' * 50, 'is not a readable checkpoint'),
    ],
)
def test_unreadable_checkpoints(tmp_path, content, pattern):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern) as e:
        read_checkpoint(str(path))
    assert 'weights_only' not in str(e.value)
