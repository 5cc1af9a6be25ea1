"""FLOP counting that does not leave attention at zero: mmengine's MACs plus elementwise ops."""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import elementwise_flop_counter

from ela_mm.utils.config import build_model, count_params, input_size

from .synthetic import WithSamples, num_classes, synthetic_batch

#: ops mmengine's counter leaves at zero, counted here at one operation per element: the
#: reductions by their input size, elementwise ops and activations by their output size
ELEMENTWISE_OPS = {
    **{
        op: elementwise_flop_counter(1, 0)
        for op in ('aten::mean', 'aten::amax', 'aten::max', 'aten::sum')
    },
    **{
        op: elementwise_flop_counter(0, 1)
        for op in (
            'aten::sigmoid',
            'aten::hardsigmoid',
            'aten::hardswish',
            'aten::hardswish_',
            'aten::relu',
            'aten::relu_',
            'aten::relu6',
            'aten::hardtanh',
            'aten::hardtanh_',
            'aten::silu',
            'aten::silu_',
            'aten::mul',
            'aten::mul_',
            'aten::add',
            'aten::add_',
            'aten::sub',
            'aten::div',
            'aten::exp',
        )
    },
}


def count_flops(model: nn.Module, inputs: Tuple) -> Dict[str, int]:
    """``macs``: what mmengine's FlopAnalyzer counts (one per multiply-accumulate in conv,
    linear and matmul; 4-5 per element in normalisation layers). ``elementwise``: one per
    element for the reductions, activations and elementwise arithmetic it leaves at zero
    (strip and global means, sigmoid, the gating multiplications, residual additions).
    ``total``: their sum."""
    macs = FlopAnalyzer(model, inputs).unsupported_ops_warnings(False)
    macs.uncalled_modules_warnings(False)
    every = FlopAnalyzer(model, inputs).set_op_handle(**ELEMENTWISE_OPS)
    every.unsupported_ops_warnings(False)
    every.uncalled_modules_warnings(False)
    m, t = int(macs.total()), int(every.total())
    return dict(macs=m, elementwise=t - m, total=t)


def model_cost(cfg, shape: Optional[Sequence[int]] = None, batch: int = 1) -> dict:
    """``params``, ``macs``, ``elementwise``, ``total`` and ``shape`` of the model a config builds,
    counted on a synthetic batch of ``shape`` (default: the config's test size)."""
    model = build_model(cfg)
    model.eval()
    h, w = shape or input_size(cfg)
    inputs, samples = synthetic_batch(cfg.default_scope, batch, (h, w), num_classes(cfg))
    with torch.no_grad():
        try:
            flops = count_flops(WithSamples(model, samples), (inputs,))
        except RuntimeError as e:  # feature maps of the pyramid do not line up at this size
            up = [-(-v // 32) * 32 for v in (h, w)]
            raise ValueError(
                f'input {h} x {w} does not fit {type(model).__name__}: '
                f'{str(e).splitlines()[0]}. Its feature maps line up only for sizes that its '
                f'total stride divides (32 for the shipped models): try --shape {up[0]} {up[1]}'
            ) from None
    return dict(params=count_params(model), shape=(h, w), batch=batch, **flops)
