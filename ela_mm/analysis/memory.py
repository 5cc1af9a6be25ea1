"""What a training forward keeps for backward, counted deterministically.

Peak-memory tools (``ela_mm.analysis.timing.peak_bytes``) depend on the allocator and the device;
here every tensor autograd saves passes through ``torch.autograd.graph.saved_tensors_hooks`` and
its storage is counted once, however many ops save it (a convolution and the norm after it may
save views of one buffer). Parameters and buffers are left out: the plain and the attention model
both keep theirs whatever they save.
"""

import weakref
from typing import Callable, Dict

import torch
import torch.nn as nn


def saved_bytes(fn: Callable[[], torch.Tensor], model: nn.Module = None) -> Dict[str, int]:
    """Run ``fn`` (a training forward returning what backward starts from) and count what
    autograd saved and still keeps when ``fn`` returns: ``bytes`` of distinct storages,
    ``tensors`` packed, ``storages`` distinct. Tensors sharing storage with ``model``'s
    parameters or buffers are not counted; neither are tensors saved by a graph that was
    dropped before ``fn`` returned (a metric computed with gradients on, say): those are
    freed, and their address may be reused by another storage."""
    own = set()
    if model is not None:
        own = {
            t.untyped_storage().data_ptr()
            for t in list(model.parameters()) + list(model.buffers())
            if t.numel()
        }
    packed = []

    def pack(t: torch.Tensor):
        packed.append(weakref.ref(t))  # alive as long as the graph that saved it
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    storages: Dict[int, int] = {}
    for ref in packed:
        t = ref()
        if t is None:
            continue
        s = t.untyped_storage()
        if s.data_ptr() not in own and s.nbytes():
            storages[s.data_ptr()] = s.nbytes()
    del out
    return dict(bytes=sum(storages.values()), tensors=len(packed), storages=len(storages))
