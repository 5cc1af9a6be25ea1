"""mmengine checkpoints load through torch's safe loader once ela_mm is imported."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

import ela_mm  # noqa: F401  (installs the allowlist)


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
        model=ToyModel(), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=_dataset(), sampler=dict(type='DefaultSampler'),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), default_scope=None)
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
