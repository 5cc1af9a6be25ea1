"""Small helpers shared by the attention modules."""


def check_divides(groups: int, channels: int, what: str, override: str) -> None:
    """Raise a ``ValueError`` naming the problem and the fix when ``groups`` does not divide
    ``channels``. ``what`` describes the groups (e.g. ``'ELA-T: GroupNorm num_groups'``) and
    ``override`` is the argument the user can pass instead."""
    if groups < 1 or channels % groups != 0:
        ok = max(d for d in range(1, max(groups, 1) + 1) if channels % d == 0)
        raise ValueError(
            f'{what}={groups} does not divide in_channels={channels}. Pass {override}=<a divisor '
            f'of {channels}> (e.g. {override}={ok}, the largest divisor not above {groups}) or '
            f'choose another variant.'
        )
