"""Fused Triton kernels for the CUDA path of the attention modules (opt-in).

On CUDA the fused autograd functions of :mod:`ela_mm.ops` otherwise run PyTorch ops: two
reductions over ``x`` for the strip means, two broadcasts for the gate, and as many again in
backward. The kernels here make each of those one pass:

* :mod:`.strip_attention` (ELA, Coordinate Attention): both strip means in one read of ``x``;
  the gate ``x * a_h * a_w`` in one read and one write; backward in two passes (both strip
  gradients in one read of ``grad`` and ``x``, the whole input gradient in one read of
  ``grad``);
* :mod:`.channel_gate` (SE, ECA): the channel mean in one read; the gate ``x * a`` in one read
  and one write; backward in two passes (``sum_hw(grad * x)``, then ``grad * a + b``).

They take float16, bfloat16, float32 and float64 (accumulating in float32, or float64 for
float64), any strides (NCHW, channels_last, views), any H and rows up to :data:`MAX_W` wide.

**The switch.** ``ELA_MM_TRITON=1`` in the environment turns them on for CUDA tensors (read at
every call); unset or ``0``, the PyTorch ops run, as before. They stay opt-in until
``tools/analysis/gpu_check.py`` has measured them faster than the PyTorch path on a GPU.
Without triton installed (it is no requirement of ela_mm), or for inputs they do not take, the
PyTorch path runs. With ``TRITON_INTERPRET=1`` (Triton's interpreter) CPU tensors take them
too: that is how the tests prove them on machines without a GPU; the CPU's own path (C++
kernels) is otherwise never replaced.
"""

import importlib.util
import os
from collections import Counter
from typing import Optional

import torch
from torch import Tensor

__all__ = ['MAX_W', 'available', 'enabled', 'use', 'status', 'launches']

#: widest row the kernels take (one program holds a whole row of a tile)
MAX_W = 4096
DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
#: kernel launches per kernel name (the tests check that the kernels, not the fallback, ran)
launches: Counter = Counter()

_available: Optional[bool] = None


def available() -> bool:
    """Whether triton can be imported (looked up once, not imported here)."""
    global _available
    if _available is None:
        try:
            _available = importlib.util.find_spec('triton') is not None
        except (ImportError, ValueError):
            _available = False
    return _available


def interpreting() -> bool:
    return os.environ.get('TRITON_INTERPRET', '0') == '1'


def enabled() -> bool:
    """The switch: ``ELA_MM_TRITON=1`` and triton importable."""
    return os.environ.get('ELA_MM_TRITON', '0') == '1' and available()


def use(x: Tensor) -> bool:
    """Whether the Triton kernels take ``x`` (N, C, H, W): switched on, a CUDA tensor (or a CPU
    tensor under Triton's interpreter), a dtype and width they take, not empty."""
    if not enabled() or x.dim() != 4 or x.dtype not in DTYPES:
        return False
    if not (x.is_cuda or (x.device.type == 'cpu' and interpreting())):
        return False
    return 0 < x.shape[-1] <= MAX_W and x.numel() > 0


def status() -> str:
    """What runs on CUDA, for :func:`ela_mm.ops.kernels_in_use`."""
    if os.environ.get('ELA_MM_TRITON', '0') != '1':
        return 'CUDA: PyTorch ops (Triton kernels are opt-in: ELA_MM_TRITON=1)'
    if not available():
        return 'CUDA: PyTorch ops (ELA_MM_TRITON=1, but triton is not installed)'
    try:
        from importlib.metadata import version

        v = version('triton')
    except Exception:  # noqa: BLE001 (a triton without metadata still runs)
        v = '?'
    return f'CUDA: Triton kernels (ELA_MM_TRITON=1, triton {v})'


def _next_pow2(v: int) -> int:
    return 1 << max(0, int(v) - 1).bit_length()


def tiles(x: Tensor, target: int = 2048):
    """Block sizes (channels, rows, columns) of a tile of ``x``, near ``target`` elements: whole
    rows (the strip kernels need them); then, when channels are the contiguous axis
    (channels_last), as many channels as make coalesced reads, then rows; otherwise rows, then
    channels (small planes: several per program)."""
    c, h, w = x.shape[1:]
    bw = _next_pow2(w)
    if x.stride(1) == 1 and c > 1:  # channels_last
        bc = max(1, min(_next_pow2(c), 64, target // bw))
        bh = max(1, min(_next_pow2(h), target // (bc * bw)))
    else:
        bh = max(1, min(_next_pow2(h), target // bw))
        bc = max(1, min(_next_pow2(c), 64, target // (bh * bw)))
    return bc, bh, bw


# the kernel entry points, imported on first use (importing triton costs time and is optional)
def strip_pool(x: Tensor):
    from .strip_attention import strip_pool as f

    return f(x)


def strip_gate(x: Tensor, a_h: Tensor, a_w: Tensor, b_h=None, b_w=None) -> Tensor:
    from .strip_attention import strip_gate as f

    return f(x, a_h, a_w, b_h, b_w)


def strip_grads(grad: Tensor, x: Tensor, a_h: Tensor, a_w: Tensor):
    from .strip_attention import strip_grads as f

    return f(grad, x, a_h, a_w)


def apply_channel_gate(x: Tensor, gate_fn, params, path, lean: bool = True) -> Tensor:
    """:func:`.channel_gate.channel_gate` (named apart: the submodule takes that name)."""
    from .channel_gate import channel_gate as f

    return f(x, gate_fn, params, path, lean)
