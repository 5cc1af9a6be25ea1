"""Attention modules, backbones that take them, and insertion into any other model."""

from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attention_all
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones_all
from .insertion import WithAttention, insert_attention, match_modules

__all__ = (
    list(_attention_all)
    + list(_backbones_all)
    + ['WithAttention', 'insert_attention', 'match_modules']
)
