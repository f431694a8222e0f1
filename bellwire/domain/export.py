"""Streaming export (spec §11A.1): which events go on an app instance's streams, as what records,
and their staging in the durable outbox inside the write that caused them.

A record is what AWS puts on the Kinesis stream: ``{"EventType": ..., "Payload": "<JSON>"}``, the
payload serialized into a string as in WebSocket frames (and with their timestamp conventions).
Each record also has an outbox id (growing in commit order) that the sinks pass alongside for
consumers to de-duplicate, and a partition key, its channel ARN. Only events committed while a
configuration exists are staged: events before the configuration are never streamed.

Everything here but :func:`stage` is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from bellwire.aws import arn as arns
from bellwire.compact_json import compact
from bellwire.domain import sub_channels
from bellwire.domain.delivery import BusEvent, ChannelEvent, StreamEvent, SubChannelEvent
from bellwire.domain.operation import AnyResult
from bellwire.events import EventType
from bellwire.frozen import quick_init
from bellwire.store.base import IamTx, Tx


class DataType(StrEnum):
    CHANNEL = "Channel"
    CHANNEL_MESSAGE = "ChannelMessage"


# The stream's event types and the configuration (DataType) that carries each (spec §11A.1).
MESSAGE_TYPES: Final = frozenset(
    {
        EventType.CREATE_CHANNEL_MESSAGE,
        EventType.UPDATE_CHANNEL_MESSAGE,
        EventType.REDACT_CHANNEL_MESSAGE,
        EventType.DELETE_CHANNEL_MESSAGE,
    }
)
CHANNEL_TYPES: Final = frozenset(
    {
        EventType.CREATE_CHANNEL,
        EventType.UPDATE_CHANNEL,
        EventType.DELETE_CHANNEL,
        EventType.CREATE_CHANNEL_MEMBERSHIP,
        EventType.DELETE_CHANNEL_MEMBERSHIP,
    }
)
# What an elastic channel routes to each of its sub-channels alike.
_WHOLE_CHANNEL: Final = frozenset(
    {EventType.CREATE_CHANNEL, EventType.UPDATE_CHANNEL, EventType.DELETE_CHANNEL}
)
# Streamed, but never sent on a messaging session: they come as StreamEvents (Result.exports).
STREAM_ONLY: Final = frozenset(
    {
        "UPDATE_CHANNEL_EXPIRATION_SETTINGS",
        "CREATE_CHANNEL_BAN",
        "DELETE_CHANNEL_BAN",
        "CREATE_CHANNEL_MODERATOR",
        "DELETE_CHANNEL_MODERATOR",
    }
)


@quick_init
@dataclass(frozen=True, slots=True)
class StreamRecord:
    channel_arn: str  # the partition key
    data_type: DataType
    event_type: str
    payload: Mapping[str, Any]

    def encode(self) -> str:
        payload = compact(self.payload)
        return compact({"EventType": self.event_type, "Payload": payload})


def records_of(
    events: Iterable[BusEvent], exports: Iterable[StreamEvent] = ()
) -> list[StreamRecord]:
    """The stream records of one operation's events, in their order.

    Not streamed (AWS's table has none of them): PENDING/FAILED/DENIED message events (a message
    processed by a channel flow is streamed once, when it is SENT), UPDATE_CHANNEL_MEMBERSHIP.
    BATCH_CREATE_CHANNEL_MEMBERSHIP becomes one CREATE_CHANNEL_MEMBERSHIP per member. Balancing's
    sub-channel changes become CREATE_SUB_CHANNEL/DELETE_SUB_CHANNEL. An elastic channel's
    channel-level events (UPDATE_CHANNEL, DELETE_CHANNEL) are routed once per sub-channel with
    the same sequence and payload; the stream gets one record of each."""
    records: list[StreamRecord] = []
    routed_copies: set[tuple[str, str, int]] = set()
    for event in events:
        if isinstance(event, SubChannelEvent):
            payload = {"ChannelArn": event.channel_arn, "SubChannelId": event.sub_channel_id}
            records.append(
                StreamRecord(event.channel_arn, DataType.CHANNEL, str(event.kind), payload)
            )
        elif isinstance(event, ChannelEvent):
            if "/subchannel/" in event.channel_arn and event.event.type in _WHOLE_CHANNEL:
                copy = (event.channel_arn.partition("/subchannel/")[0], event.event.type, event.seq)
                if copy in routed_copies:
                    continue
                routed_copies.add(copy)
            records += _of_channel_event(event)
    for extra in exports:
        if extra.event_type in STREAM_ONLY:
            records.append(
                StreamRecord(extra.channel_arn, DataType.CHANNEL, extra.event_type, extra.payload)
            )
    return records


def _of_channel_event(event: ChannelEvent) -> list[StreamRecord]:
    kind, payload = event.event.type, event.event.payload or {}
    # An elastic channel's events are routed per sub-channel; the stream's partition key is the
    # channel itself (records/chime.py route_key: ARN + "/subchannel/" + id).
    channel = event.channel_arn.partition("/subchannel/")[0]
    if kind in MESSAGE_TYPES:
        return [StreamRecord(channel, DataType.CHANNEL_MESSAGE, str(kind), payload)]
    if kind in CHANNEL_TYPES:
        return [StreamRecord(channel, DataType.CHANNEL, str(kind), payload)]
    if kind == EventType.BATCH_CREATE_CHANNEL_MEMBERSHIP:
        common = {k: v for k, v in payload.items() if k != "Members"}
        return [
            StreamRecord(
                channel,
                DataType.CHANNEL,
                str(EventType.CREATE_CHANNEL_MEMBERSHIP),
                {**common, "Member": member},
            )
            for member in payload.get("Members") or ()
        ]
    return []


def app_instance_of(channel_arn: str) -> str | None:
    parsed = arns.parse(channel_arn)
    return None if parsed is None else parsed.app_instance_arn


def routed(
    records: Sequence[StreamRecord], configurations: Mapping[str, Mapping[str, str]]
) -> list[tuple[str, str, str]]:
    """``(stream ARN, channel ARN, record JSON)`` of the records some configuration takes;
    ``configurations`` maps an app instance to its {DataType: stream ARN}."""
    rows: list[tuple[str, str, str]] = []
    for record in records:
        instance = app_instance_of(record.channel_arn)
        stream = configurations.get(instance or "", {}).get(record.data_type)
        if stream is not None:
            rows.append((stream, record.channel_arn, record.encode()))
    return rows


def stage(
    tx: Tx,
    now: float,
    events: Iterable[BusEvent],
    exports: Iterable[StreamEvent],
    known: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Write the stream records of a unit of work's events to the outbox, in its transaction
    (so they commit, or roll back, with the change). Returns how many were staged. ``known``:
    configurations the unit read already in this transaction."""
    if known and not exports and not any(known.values()):
        # The unit read its app instances' configurations and none streams: when its events
        # are all theirs (a message send, the common write), there is nothing to stage.
        instances = {
            app_instance_of(event.channel_arn.partition("/subchannel/")[0])
            for event in events
            if isinstance(event, ChannelEvent | SubChannelEvent)
        }
        if instances <= known.keys():
            return 0
    records = records_of(events, exports)
    if not records:
        return 0
    configurations: dict[str, Mapping[str, str]] = dict(known or {})
    for record in records:
        instance = app_instance_of(record.channel_arn)
        if instance is not None and instance not in configurations:
            configurations[instance] = tx.streaming_configurations(instance)
    rows = routed(records, configurations)
    if rows:
        tx.append_outbox(rows, now)
    return len(rows)


def staged(
    unit: Callable[[IamTx], AnyResult], now: Callable[[], float]
) -> Callable[[IamTx], AnyResult]:
    """The unit, then its stream records written to the outbox in the same transaction: the one
    place every write's events reach the stream (``api/operations.py`` wraps every write)."""

    def run(tx: IamTx) -> AnyResult:
        result = unit(tx)
        sub_channels.number(tx, result.events)
        result.staged = stage(tx, now(), result.events, result.exports, result.streaming)
        return result

    return run
