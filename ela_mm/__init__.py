"""ela_mm: Efficient Local Attention (ELA) for OpenMMLab 2.x.

``import ela_mm`` (or ``custom_imports = dict(imports=['ela_mm'])`` in a config) registers the
attention plugin layers in mmengine's root ``MODELS`` (found from every OpenMMLab scope), the
attention backbones in the mmdet, mmseg and mmpretrain registries, and allowlists mmengine's
checkpoint types for torch's safe loader.

Where things live: ``models/attention`` (ELA and its peers), ``models/backbones`` (upstream
backbones that take them), ``models/insertion`` (``WithAttention``: any other backbone or neck),
``ops`` (fused ops, their C++ kernels in ``ops/csrc`` and Triton kernels in ``ops/triton``; the
path decision in ``ops/path``), ``datasets`` (the toy data and miniature real-layout copies),
``utils`` (setting up a run: configs, launch, checks, the tools' start), ``analysis``
(measuring a model without data: time, memory, FLOPs, attention maps) and ``comparison`` (the
comparison grid, its statistics, and the catalogue of configs and published results).
"""

from .models import *  # noqa: F401,F403
from .models import __all__ as _models_all
from .utils.checkpoint import allow_mmengine_checkpoints
from .utils.config import config_path
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__', 'allow_mmengine_checkpoints', 'config_path'] + list(_models_all)
