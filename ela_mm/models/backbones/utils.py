"""Helpers shared by the attention backbones."""

from typing import Optional, Sequence


def check_stages(flags: Optional[Sequence[bool]], n: int, owner: str) -> Sequence[bool]:
    """One flag per stage: ``None`` means every stage; a wrong count raises a ``ValueError``
    that names the owner, the expected count and what was given."""
    flags = (True,) * n if flags is None else tuple(flags)
    if len(flags) != n:
        raise ValueError(
            f'{owner}: attention_stages needs {n} flags (one per stage), got {len(flags)}: {flags}'
        )
    return flags
