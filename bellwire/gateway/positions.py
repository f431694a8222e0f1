"""Trailing loss: a channel's last events committed but never published.

Gap detection (``hub.py``) notices a lost event only when a later one arrives. If a node commits
a change and dies before its publish reaches the bus, and nothing else happens in the channel,
no later event ever shows the hole. So every ``channel_check_seconds`` a node reads the store's
position (``channels.seq``; ``sub_channels.seq`` for an elastic channel's sub-channel) of the
channels it follows and compares it with the last number its hub applied: a channel still
behind the position read once the reorder window has passed (an event in flight is not behind
for long) lost its tail, and its sessions are closed with 4410.

Pure: the shell (``server.py``) reads the positions, waits and closes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# An elastic channel's sessions follow its sub-channels (route keys with this marker), each of
# which numbers its own events (``sub_channels.seq``): compared like channels.
SUB_CHANNEL = "/subchannel/"


def comparable(applied: Mapping[str, int]) -> list[str]:
    """The channels and sub-channels whose position tells whether the node is behind."""
    return list(applied)


def split(followed: Iterable[str]) -> tuple[list[str], list[str]]:
    """The regular channels of ``followed``, and the elastic channels whose sub-channels it
    holds (each once): the store reads each kind in one statement."""
    channels: list[str] = []
    elastic: set[str] = set()
    for key in followed:
        channel, marker, _ = key.partition(SUB_CHANNEL)
        if marker:
            elastic.add(channel)
        else:
            channels.append(key)
    return channels, sorted(elastic)


def sub_channel_keys(stored: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """The store's sub-channel positions by route key (``records/chime.py`` route_key)."""
    return {f"{channel}{SUB_CHANNEL}{sub}": seq for (channel, sub), seq in stored.items()}


def behind(applied: Mapping[str, int], positions: Mapping[str, int]) -> dict[str, int]:
    """The channels the node applied less of than the store holds, each with the number it must
    reach. A channel the store no longer has was deleted and its DELETE_CHANNEL not applied
    here: it must reach any number past its last (the deletion would remove it instead)."""
    suspects: dict[str, int] = {}
    for channel in comparable(applied):
        seq = applied[channel]
        position = positions.get(channel)
        if position is None:
            suspects[channel] = seq + 1
        elif position > seq:
            suspects[channel] = position
    return suspects


def still_behind(suspects: Mapping[str, int], applied: Mapping[str, int]) -> list[str]:
    """Of ``suspects``, the channels the node still follows and has not caught up with."""
    return sorted(
        channel
        for channel, target in suspects.items()
        if channel in applied and applied[channel] < target
    )
