"""Prefetch on connect: which channels get a CHANNEL_DETAILS event, and what it holds (spec §2.7).

Pure: records in, payloads out. With more channels than the cap, the default order puts channels
with unread messages first and then the latest LastMessageTimestamp; ``prefetch-sort-by`` can
ask for either criterion alone. The chosen events are sent in random order, as AWS documents.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.domain import shapes
from bellwire.events import Event, EventType, MessageType
from bellwire.gateway.frames import text_frame
from bellwire.records.chime import Channel, MemberSummary, Message, Position

SORT_UNREAD = "unread"
SORT_LAST_MESSAGE = "last-message-timestamp"
SORTS = (SORT_UNREAD, SORT_LAST_MESSAGE)


def has_unread(position: Position) -> bool:
    """A channel is unread when its last message is newer than the user's read marker."""
    if position.last_message is None:
        return False
    return position.read_marker is None or position.last_message > position.read_marker


def select(
    positions: Sequence[Position],
    *,
    sort_by: str | None,
    cap: int,
    shuffle: Callable[[list[Any]], None] = random.shuffle,
) -> list[Position]:
    """The channels to prefetch, in the (random) order their events are sent."""
    if len(positions) > cap:

        def key(p: Position) -> tuple[float, ...]:
            last = p.last_message or 0.0
            if sort_by == SORT_LAST_MESSAGE:
                return (-last,)
            # "unread" and the default: unread first, then by the newest last message.
            return (0.0 if has_unread(p) else 1.0, -last)

        chosen = sorted(positions, key=key)[:cap]
    else:
        chosen = list(positions)
    shuffle(chosen)
    return chosen


@dataclass(frozen=True, slots=True)
class ChannelDetails:
    channel: Channel
    messages: Sequence[Message]  # newest first, visible to the user, at most the cap + 1
    members: Sequence[MemberSummary]
    read_marker: float | None  # the reader's


def payload(details: ChannelDetails, *, messages_cap: int, members_cap: int) -> dict[str, Any]:
    """The CHANNEL_DETAILS payload: ChannelSummary, newest messages, memberships, read marker."""
    ts = shapes.event_ts
    shown = details.messages[:messages_cap]
    return {
        "Channel": shapes.channel_summary(details.channel, ts),
        "ChannelMessages": [shapes.channel_message_summary(m, ts) for m in shown],
        "ChannelMessagesHasMore": len(details.messages) > messages_cap,
        "ChannelMemberships": [shapes.member_summary(m, ts) for m in details.members[:members_cap]],
        "ReadMarkerTimestamp": ts(details.read_marker),
    }


# --- what every member sees alike --------------------------------------------------------------
#
# In a reconnect storm every member of a channel asks for the same CHANNEL_DETAILS but for its
# own ReadMarkerTimestamp. The rest is rendered once per channel version and kept as frame text
# already escaped for the Payload string: JSON escapes character by character, so the escaped
# halves of a payload concatenate to the escaped whole.

_SPLIT = '"ReadMarkerTimestamp":'


@dataclass(frozen=True, slots=True)
class SharedDetails:
    """A CHANNEL_DETAILS frame as text, cut where the reader's own read marker goes."""

    head: str  # the frame text up to and including ``"ReadMarkerTimestamp":`` (escaped)
    data: bytes = b""  # ``head`` encoded, once for every reader

    def __post_init__(self) -> None:
        if not self.data:
            object.__setattr__(self, "data", self.head.encode())

    @property
    def size(self) -> int:
        return len(self.head)


def shared_details(
    channel: Channel,
    messages: Sequence[Message],
    members: Sequence[MemberSummary],
    *,
    messages_cap: int,
    members_cap: int,
) -> SharedDetails:
    """The shared part; ``messages`` must hold no targeted message (those differ by reader)."""
    details = ChannelDetails(channel, messages, members, None)
    text = Event(
        EventType.CHANNEL_DETAILS,
        MessageType.SYSTEM,
        payload(details, messages_cap=messages_cap, members_cap=members_cap),
    ).encode()
    escaped_split = json.dumps(_SPLIT)[1:-1]
    cut = text.rindex(escaped_split) + len(escaped_split)
    return SharedDetails(text[:cut])


# An ISO-8601 timestamp needs no JSON escaping, in the payload or in the frame's Payload string.
_PLAIN_TIMESTAMP = re.compile(r"[0-9A-Za-z:.+-]*", re.ASCII)


def details_frame(shared: SharedDetails, read_marker: float | None) -> bytes:
    """The reader's CHANNEL_DETAILS frame: the shared part and its read marker."""
    ts = shapes.event_ts(read_marker)
    if ts is None:
        tail = b'null}"}'
    elif _PLAIN_TIMESTAMP.fullmatch(ts):
        # The marker is a JSON string inside the Payload string: its quotes come escaped.
        tail = b'\\"' + ts.encode() + b'\\"}"}'
    else:
        tail = (json.dumps(json.dumps(ts) + "}")[1:-1] + '"}').encode()
    return text_frame(shared.data + tail)


class DetailsCache:
    """The latest SharedDetails of recently prefetched channels, least recently used first
    out once their text exceeds ``budget`` characters. Safe across reader threads."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._entries: OrderedDict[str, tuple[tuple[int, int], SharedDetails]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: tuple[int, int]) -> SharedDetails | None:
        """``key``: the route key (a channel's ARN, or a sub-channel's); ``version``: the
        channel's (Position.version) the entry must have been rendered at."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, version: tuple[int, int], shared: SharedDetails) -> None:
        if shared.size > self._budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._used -= old[1].size
            self._entries[key] = (version, shared)
            self._used += shared.size
            while self._used > self._budget:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._used -= evicted.size

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used(self) -> int:
        return self._used
