"""Prefetch on connect: which channels get a CHANNEL_DETAILS event, and what it holds (spec §2.7).

Pure: records in, payloads out. With more channels than the cap, the default order puts channels
with unread messages first and then the latest LastMessageTimestamp; ``prefetch-sort-by`` can
ask for either criterion alone. The chosen events are sent in random order, as AWS documents.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.domain import shapes
from bellwire.domain.records import Channel, Membership, Message

SORT_UNREAD = "unread"
SORT_LAST_MESSAGE = "last-message-timestamp"
SORTS = (SORT_UNREAD, SORT_LAST_MESSAGE)


def has_unread(membership: Membership, channel: Channel) -> bool:
    """A channel is unread when its last message is newer than the user's read marker."""
    if channel.last_message is None:
        return False
    return membership.read_marker is None or channel.last_message > membership.read_marker


def select(
    memberships: Sequence[tuple[Membership, Channel]],
    *,
    sort_by: str | None,
    cap: int,
    shuffle: Callable[[list[Any]], None] = random.shuffle,
) -> list[tuple[Membership, Channel]]:
    """The channels to prefetch, in the (random) order their events are sent."""
    if len(memberships) > cap:

        def last(pair: tuple[Membership, Channel]) -> float:
            return pair[1].last_message or 0.0

        def key(pair: tuple[Membership, Channel]) -> tuple[float, ...]:
            if sort_by == SORT_LAST_MESSAGE:
                return (-last(pair),)
            # "unread" and the default: unread first, then by the newest last message.
            return (0.0 if has_unread(*pair) else 1.0, -last(pair))

        chosen = sorted(memberships, key=key)[:cap]
    else:
        chosen = list(memberships)
    shuffle(chosen)
    return chosen


@dataclass(frozen=True, slots=True)
class ChannelDetails:
    membership: Membership
    channel: Channel
    messages: Sequence[Message]  # newest first, visible to the user, at most the cap + 1
    members: Sequence[Membership]
    names: dict[str, str]


def payload(details: ChannelDetails, *, messages_cap: int, members_cap: int) -> dict[str, Any]:
    """The CHANNEL_DETAILS payload: ChannelSummary, newest messages, memberships, read marker."""
    ts = shapes.event_ts
    shown = details.messages[:messages_cap]
    return {
        "Channel": shapes.channel_summary(details.channel, ts),
        "ChannelMessages": [shapes.channel_message_summary(m, ts) for m in shown],
        "ChannelMessagesHasMore": len(details.messages) > messages_cap,
        "ChannelMemberships": [
            shapes.channel_membership_summary(m, details.names, ts)
            for m in details.members[:members_cap]
        ],
        "ReadMarkerTimestamp": ts(details.membership.read_marker),
    }
