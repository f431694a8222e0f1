"""Who receives which event: every recipient rule of spec §2.8 lives in this module.

A mutation produces :class:`ChannelEvent` objects inside its transaction; they are published on
the bus after the commit. A gateway node keeps, per channel, the set of its local sessions whose
user is a member, and applies an event like this: sessions of ``subscribe`` join the channel,
the frame goes to the channel's sessions (or, with ``only``, to those of the listed users), then
sessions of ``unsubscribe`` leave, and ``close_channel`` drops the channel. So the membership
index is maintained by the same ordered stream it routes, with no lookups on the hot path.

Elastic channels (spec §7) route by sub-channel: ``channel_arn`` of their events is the
sub-channel's route key (``records.chime.route_key``), so a message's fan-out touches only the
sessions of its sub-channel; channel-wide events (UPDATE_CHANNEL, DELETE_CHANNEL) are published
once per sub-channel. A member moved by balancing leaves ``moved_from`` as it joins the new key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bellwire.events import Event, EventType, MessageType
from bellwire.frozen import quick_init

SUBCHANNEL_DELETED = "subchannel_DELETED"  # x-amz-chime-event-reason (spec §2.5, §7)


@quick_init
@dataclass(frozen=True, slots=True)
class ChannelEvent:
    channel_arn: str
    seq: int  # the channel's sequence: events of one channel are applied in this order
    event: Event
    only: frozenset[str] | None = None
    subscribe: tuple[str, ...] = ()
    unsubscribe: tuple[str, ...] = ()
    close_channel: bool = False
    # Sessions of ``subscribe`` leave this route key first (a member moved between
    # sub-channels of an elastic channel).
    moved_from: str | None = None
    # An elastic channel's sub-channel: its own sequence number (``seq`` is the channel's,
    # which the sub-channels share), taken in the commit's transaction; None when the
    # sub-channel was deleted by the same commit (or the event came from an older node).
    sub_seq: int | None = None
    # A move: the number the sub-channel left (``moved_from``) had reached at the move, which
    # takes none of its numbers. A node that has not applied that far yet keeps the moved
    # member's sessions in it until it has, so that they miss none of its earlier events.
    moved_from_seq: int | None = None

    @property
    def position(self) -> int:
        """The number the event is ordered by on its route key."""
        return self.seq if self.sub_seq is None else self.sub_seq


@dataclass(frozen=True, slots=True)
class UserEvent:
    """Something that happened to a user as a whole (not to a channel)."""

    user_arn: str
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class CloseSessions:
    """An operator's order to close a user's sessions (all of them, or one ``session_id``) on
    every node that holds one. Code 1006 drops the connection without a close frame."""

    user_arn: str
    code: int
    reason: str
    session_id: str | None = None


class SubChannelChange(StrEnum):
    """Named as the streaming export (Kinesis) names these records; not WebSocket events."""

    CREATE_SUB_CHANNEL = "CREATE_SUB_CHANNEL"
    DELETE_SUB_CHANNEL = "DELETE_SUB_CHANNEL"


@dataclass(frozen=True, slots=True)
class SubChannelEvent:
    """Balancing created or deleted a sub-channel of an elastic channel. No session receives
    it; it is there for consumers of committed changes (streaming export)."""

    kind: SubChannelChange
    channel_arn: str
    sub_channel_id: str
    membership_count: int = 0


BusEvent = ChannelEvent | UserEvent | SubChannelEvent | CloseSessions


def message_event(
    kind: EventType,
    channel_arn: str,
    seq: int,
    payload: Mapping[str, Any],
    *,
    message_type: str,
    sender: str,
    target: str | None,
) -> ChannelEvent:
    """Message events go to every member (hidden ones and the sender too), except that a
    targeted message reaches only its target and its sender. NON_PERSISTENT messages need no
    rule of their own: only connected sessions ever receive anything."""
    only = frozenset({sender, target}) if target else None
    return ChannelEvent(
        channel_arn, seq, Event(kind, MessageType(message_type), payload), only=only
    )


def sender_only_event(
    kind: EventType, channel_arn: str, seq: int, payload: Mapping[str, Any], sender: str
) -> ChannelEvent:
    """PENDING_/FAILED_/DENIED_ message events (channel flows) reach only the sender."""
    return ChannelEvent(
        channel_arn, seq, Event(kind, MessageType.STANDARD, payload), only=frozenset({sender})
    )


def channel_updated(channel_arn: str, seq: int, payload: Mapping[str, Any]) -> ChannelEvent:
    return ChannelEvent(
        channel_arn, seq, Event(EventType.UPDATE_CHANNEL, MessageType.SYSTEM, payload)
    )


def channel_created(
    channel_arn: str, seq: int, payload: Mapping[str, Any], members: tuple[str, ...]
) -> ChannelEvent:
    """CREATE_CHANNEL is not in AWS's table, but the official chat sample handles it; the
    creator and the initial members receive it, which also subscribes their open sessions."""
    return ChannelEvent(
        channel_arn,
        seq,
        Event(EventType.CREATE_CHANNEL, MessageType.SYSTEM, payload),
        subscribe=members,
    )


def channel_deleted(channel_arn: str, seq: int, payload: Mapping[str, Any]) -> ChannelEvent:
    """The members hear of the deletion, then nothing more of the channel."""
    return ChannelEvent(
        channel_arn,
        seq,
        Event(EventType.DELETE_CHANNEL, MessageType.SYSTEM, payload),
        close_channel=True,
    )


def membership_created(
    channel_arn: str, seq: int, payload: Mapping[str, Any], member: str
) -> ChannelEvent:
    """The new member's already-open sessions receive from this event on."""
    return ChannelEvent(
        channel_arn,
        seq,
        Event(EventType.CREATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, payload),
        subscribe=(member,),
    )


def memberships_batch_created(
    channel_arn: str, seq: int, payload: Mapping[str, Any], members: tuple[str, ...]
) -> ChannelEvent:
    return ChannelEvent(
        channel_arn,
        seq,
        Event(EventType.BATCH_CREATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, payload),
        subscribe=members,
    )


def membership_deleted(
    channel_arn: str, seq: int, payload: Mapping[str, Any], member: str
) -> ChannelEvent:
    """A removed (or banned) member receives its own DELETE_CHANNEL_MEMBERSHIP and nothing after."""
    return ChannelEvent(
        channel_arn,
        seq,
        Event(EventType.DELETE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, payload),
        unsubscribe=(member,),
    )


# --- the stream (streaming export, spec §11A.1) ---------------------------------------------------
# Every ChannelEvent above that AWS also streams is turned into a stream record by
# domain/export.py. What only the stream carries (bans, moderators, expiration-setting changes)
# is a StreamEvent, returned in Result.exports; balancing's SubChannelEvents are streamed too.


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """An event for the export stream only: no messaging session receives it."""

    channel_arn: str
    event_type: str  # one of domain/export.py STREAM_ONLY
    payload: Mapping[str, Any]


def ban_created(channel_arn: str, payload: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(channel_arn, "CREATE_CHANNEL_BAN", payload)


def ban_deleted(channel_arn: str, payload: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(channel_arn, "DELETE_CHANNEL_BAN", payload)


def moderator_created(channel_arn: str, payload: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(channel_arn, "CREATE_CHANNEL_MODERATOR", payload)


def moderator_deleted(channel_arn: str, payload: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(channel_arn, "DELETE_CHANNEL_MODERATOR", payload)


def channel_expiration_updated(channel_arn: str, payload: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(channel_arn, "UPDATE_CHANNEL_EXPIRATION_SETTINGS", payload)


# --- elastic channels ----------------------------------------------------------------------------


def membership_moved(
    route: str, seq: int, payload: Mapping[str, Any], member: str, moved_from: str
) -> ChannelEvent:
    """UPDATE_CHANNEL_MEMBERSHIP with the new SubChannelId goes only to the moved member, whose
    sessions leave the old sub-channel and join the new one before it is delivered."""
    return ChannelEvent(
        route,
        seq,
        Event(EventType.UPDATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, payload),
        only=frozenset({member}),
        subscribe=(member,),
        moved_from=moved_from,
    )


def sub_channel_membership_dropped(
    route: str, seq: int, payload: Mapping[str, Any], moderator: str
) -> ChannelEvent:
    """A moderator's membership of a sub-channel that balancing deleted: only they hear it."""
    return ChannelEvent(
        route,
        seq,
        Event(
            EventType.DELETE_CHANNEL_MEMBERSHIP,
            MessageType.SYSTEM,
            payload,
            reason=SUBCHANNEL_DELETED,
        ),
        only=frozenset({moderator}),
        unsubscribe=(moderator,),
    )


def sub_channel_closed(route: str, seq: int, channel_arn: str, sub_channel_id: str) -> ChannelEvent:
    """No one is left in a deleted sub-channel; its route key is dropped (no frame is sent)."""
    return ChannelEvent(
        route,
        seq,
        Event(
            EventType.DELETE_CHANNEL_MEMBERSHIP,
            MessageType.SYSTEM,
            {"ChannelArn": channel_arn, "SubChannelId": sub_channel_id},
        ),
        only=frozenset(),
        close_channel=True,
    )
