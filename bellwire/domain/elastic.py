"""Elastic channels (spec §7): the configuration's rules and membership balancing. Pure.

Balancing sees a channel as its sub-channels' loads (regular members only: moderators'
memberships never move and do not count) and answers with a plan; the operations apply it in
their transaction. The plans are deterministic: the same loads give the same plan.

- A join goes to the least-full sub-channel (the oldest among equals) while it is below
  TargetMembershipsPerSubChannel. When every sub-channel is full, SCALE_OUT: a new sub-channel
  takes the joiner and members moved from the others so that all end within one member of each
  other (the extra members stay with the oldest sub-channels). At MaximumSubChannels with every
  sub-channel full, the channel is full and the join is refused (ResourceLimitExceeded): no
  sub-channel ever holds more than the target.
- After a leave, SCALE_IN: while the smallest sub-channel is below
  ceil(MinimumMembershipPercentage% x target) and the next smallest can take all its members
  without exceeding the target, they move there and the smallest sub-channel is deleted (the
  newest among equals). The last sub-channel is never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.aws.errors import BadRequest
from bellwire.aws.shapes import MessagingElasticChannelConfiguration
from bellwire.records.chime import ElasticConfiguration

# The model's bounds of ElasticChannelConfiguration (the codec enforces them too).
MIN_SUB_CHANNELS = 2
MIN_TARGET = 2
PERCENTAGE_RANGE = (1, 40)


@dataclass(frozen=True, slots=True)
class ElasticLimits:
    """Per-instance quotas (spec §5), settings with AWS's defaults."""

    channels_per_app_instance: int = 1
    sub_channels_per_channel: int = 100
    memberships_per_channel: int = 1_000_000


def minimum_members(config: ElasticConfiguration) -> int:
    """The SCALE_IN threshold: the ceiling of MinimumMembershipPercentage% of the target."""
    return -(-config.minimum_percentage * config.target_memberships // 100)


def parse_configuration(raw: Mapping[str, Any], limits: ElasticLimits) -> ElasticConfiguration:
    """The ElasticChannelConfiguration of a CreateChannel, checked against the model's bounds
    and the server's quotas."""
    config = ElasticConfiguration(
        maximum_sub_channels=int(raw["MaximumSubChannels"]),
        target_memberships=int(raw["TargetMembershipsPerSubChannel"]),
        minimum_percentage=int(raw["MinimumMembershipPercentage"]),
    )
    if config.maximum_sub_channels < MIN_SUB_CHANNELS:
        raise BadRequest(f"MaximumSubChannels must be at least {MIN_SUB_CHANNELS}.")
    if config.target_memberships < MIN_TARGET:
        raise BadRequest(f"TargetMembershipsPerSubChannel must be at least {MIN_TARGET}.")
    low, high = PERCENTAGE_RANGE
    if not low <= config.minimum_percentage <= high:
        raise BadRequest(f"MinimumMembershipPercentage must be between {low} and {high}.")
    if config.maximum_sub_channels > limits.sub_channels_per_channel:
        raise BadRequest(
            f"MaximumSubChannels is {config.maximum_sub_channels}; an elastic channel may have "
            f"at most {limits.sub_channels_per_channel} sub-channels."
        )
    capacity = config.maximum_sub_channels * config.target_memberships
    if capacity > limits.memberships_per_channel:
        raise BadRequest(
            f"MaximumSubChannels x TargetMembershipsPerSubChannel is {capacity}; an elastic "
            f"channel may hold at most {limits.memberships_per_channel} memberships."
        )
    return config


def configuration_shape(config: ElasticConfiguration) -> MessagingElasticChannelConfiguration:
    return {
        "MaximumSubChannels": config.maximum_sub_channels,
        "TargetMembershipsPerSubChannel": config.target_memberships,
        "MinimumMembershipPercentage": config.minimum_percentage,
    }


# --- balancing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    sub_channel_id: str
    members: int  # regular members
    ordinal: int  # creation order


@dataclass(frozen=True, slots=True)
class Transfer:
    """Move ``count`` regular members from ``source`` to ``target``."""

    source: str
    target: str
    count: int


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a joining regular member goes, and what SCALE_OUT does first (if anything)."""

    sub_channel_id: str
    created: str | None = None  # the sub-channel SCALE_OUT creates (the joiner's)
    transfers: tuple[Transfer, ...] = ()


@dataclass(frozen=True, slots=True)
class Merge:
    """SCALE_IN: move every regular member of ``source`` to ``target``, delete ``source``."""

    source: str
    target: str
    count: int


def place(loads: Sequence[Load], config: ElasticConfiguration, new_id: str) -> Placement | None:
    """Where one more regular member goes; None when the channel is full (every sub-channel
    at the target and no more sub-channels allowed)."""
    if not loads:
        return Placement(new_id, created=new_id)
    least = min(loads, key=lambda ld: (ld.members, ld.ordinal))
    if least.members < config.target_memberships:
        return Placement(least.sub_channel_id)
    if len(loads) >= config.maximum_sub_channels:
        return None
    # SCALE_OUT: n sub-channels of `total` members (the joiner included), even to within one.
    oldest_first = sorted(loads, key=lambda ld: ld.ordinal)
    total = sum(ld.members for ld in loads) + 1
    count = len(loads) + 1
    base, extra = divmod(total, count)
    transfers = []
    for index, ld in enumerate(oldest_first):
        keep = base + (1 if index < extra else 0)
        if ld.members > keep:
            transfers.append(Transfer(ld.sub_channel_id, new_id, ld.members - keep))
    return Placement(new_id, created=new_id, transfers=tuple(transfers))


def merges(loads: Sequence[Load], config: ElasticConfiguration) -> list[Merge]:
    """SCALE_IN after a leave: the merges to apply, in order."""
    current = {ld.sub_channel_id: ld for ld in loads}
    threshold = minimum_members(config)
    plan: list[Merge] = []
    while len(current) > 1:
        # The smallest goes (the newest among equals); the least full of the others absorbs
        # it (the oldest among equals).
        small = min(current.values(), key=lambda ld: (ld.members, -ld.ordinal))
        others = (ld for ld in current.values() if ld is not small)
        absorber = min(others, key=lambda ld: (ld.members, ld.ordinal))
        if small.members >= threshold:
            break
        if absorber.members + small.members > config.target_memberships:
            break
        plan.append(Merge(small.sub_channel_id, absorber.sub_channel_id, small.members))
        del current[small.sub_channel_id]
        current[absorber.sub_channel_id] = Load(
            absorber.sub_channel_id, absorber.members + small.members, absorber.ordinal
        )
    return plan
