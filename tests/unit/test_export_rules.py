"""Pure rules of streaming export, retention and expiration: vectors, no I/O."""

from __future__ import annotations

import json

import pytest

from bellwire.clock import DAY, Clock
from bellwire.domain import expiry
from bellwire.domain.delivery import (
    ChannelEvent,
    SubChannelChange,
    SubChannelEvent,
    UserEvent,
    ban_created,
    channel_deleted,
    membership_created,
    membership_deleted,
    memberships_batch_created,
    message_event,
    sender_only_event,
)
from bellwire.domain.export import DataType, StreamRecord, records_of, routed
from bellwire.events import Event, EventType, MessageType
from bellwire.export.backoff import Backoff, SinkHealth
from bellwire.records.chime import AppInstanceUser, Channel

APP = "arn:aws:chime:us-east-1:123456789012:app-instance/a1"
CH = APP + "/channel/c1"
ALICE = APP + "/user/alice"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/chime-messaging-s"


def test_a_record_is_event_type_and_payload_as_a_json_string() -> None:
    record = StreamRecord(CH, DataType.CHANNEL_MESSAGE, "CREATE_CHANNEL_MESSAGE", {"A": 1})
    assert json.loads(record.encode()) == {
        "EventType": "CREATE_CHANNEL_MESSAGE",
        "Payload": '{"A":1}',
    }


def test_streamed_events_and_their_data_types() -> None:
    msg = {"ChannelArn": CH, "MessageId": "m1"}
    events = [
        message_event(
            EventType.CREATE_CHANNEL_MESSAGE,
            CH,
            1,
            msg,
            message_type="STANDARD",
            sender=ALICE,
            target=None,
        ),
        # a flow's pending notice reaches the sender only and is not streamed
        sender_only_event(EventType.PENDING_CREATE_CHANNEL_MESSAGE, CH, 2, msg, ALICE),
        membership_created(CH, 3, {"ChannelArn": CH, "Member": {"Arn": ALICE}}, ALICE),
        ChannelEvent(CH, 4, Event(EventType.UPDATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, {})),
        UserEvent(ALICE, deleted=True),
        channel_deleted(CH, 5, {"ChannelArn": CH}),
        SubChannelEvent(SubChannelChange.CREATE_SUB_CHANNEL, CH, "sub-1"),
    ]
    extra = [ban_created(CH, {"ChannelArn": CH})]
    got = [(r.event_type, r.data_type) for r in records_of(events, extra)]
    assert got == [
        ("CREATE_CHANNEL_MESSAGE", DataType.CHANNEL_MESSAGE),
        ("CREATE_CHANNEL_MEMBERSHIP", DataType.CHANNEL),
        ("DELETE_CHANNEL", DataType.CHANNEL),
        ("CREATE_SUB_CHANNEL", DataType.CHANNEL),
        ("CREATE_CHANNEL_BAN", DataType.CHANNEL),
    ]
    assert records_of(events[-1:])[0].payload == {"ChannelArn": CH, "SubChannelId": "sub-1"}


def test_an_elastic_channel_event_routed_to_each_sub_channel_is_one_record() -> None:
    deleted = [channel_deleted(f"{CH}/subchannel/{sub}", 9, {"ChannelArn": CH}) for sub in "ab"]
    left = [
        membership_deleted(f"{CH}/subchannel/{sub}", 10, {"SubChannelId": sub}, ALICE)
        for sub in "ab"
    ]
    records = records_of([*deleted, *left])
    assert [(r.event_type, r.channel_arn) for r in records] == [
        ("DELETE_CHANNEL", CH),
        ("DELETE_CHANNEL_MEMBERSHIP", CH),  # one per sub-channel left: they differ
        ("DELETE_CHANNEL_MEMBERSHIP", CH),
    ]


def test_a_batch_of_memberships_is_one_record_per_member() -> None:
    batch = {
        "ChannelArn": CH,
        "Type": "DEFAULT",
        "InvitedBy": {"Arn": ALICE},
        "Members": [{"Arn": "b"}, {"Arn": "c"}],
    }
    records = records_of([memberships_batch_created(CH, 7, batch, ("b", "c"))])
    assert [r.event_type for r in records] == ["CREATE_CHANNEL_MEMBERSHIP"] * 2
    assert [r.payload["Member"] for r in records] == [{"Arn": "b"}, {"Arn": "c"}]
    assert all(
        "Members" not in r.payload and r.payload["InvitedBy"] == {"Arn": ALICE} for r in records
    )


def test_records_go_only_where_their_data_type_is_configured() -> None:
    records = [
        StreamRecord(CH, DataType.CHANNEL_MESSAGE, "CREATE_CHANNEL_MESSAGE", {}),
        StreamRecord(CH, DataType.CHANNEL, "UPDATE_CHANNEL", {}),
        StreamRecord(
            "arn:aws:chime:us-east-1:123456789012:app-instance/other/channel/x",
            DataType.CHANNEL,
            "UPDATE_CHANNEL",
            {},
        ),
    ]
    rows = routed(records, {APP: {"ChannelMessage": STREAM}})
    assert [(stream, channel) for stream, channel, _ in rows] == [(STREAM, CH)]
    assert routed(records, {}) == []


def _channel(**kw: object) -> Channel:
    values: dict[str, object] = dict(
        arn=CH,
        app_instance_arn=APP,
        name="c",
        mode="UNRESTRICTED",
        privacy="PRIVATE",
        metadata=None,
        created_by=ALICE,
        created=1000.0,
        updated=1000.0,
        last_message=None,
        seq=0,
    )
    values.update(kw)
    return Channel(**values)  # type: ignore[arg-type]


def test_channel_expiry_by_creation_or_last_message() -> None:
    assert expiry.channel_expires_at(_channel()) is None
    created = _channel(
        expiration_days=2, expiration_criterion="CREATED_TIMESTAMP", last_message=5e5
    )
    assert expiry.channel_expires_at(created) == 1000.0 + 2 * DAY
    last = _channel(
        expiration_days=2, expiration_criterion="LAST_MESSAGE_TIMESTAMP", last_message=5e5
    )
    assert expiry.channel_expires_at(last) == 5e5 + 2 * DAY
    quiet = _channel(expiration_days=2, expiration_criterion="LAST_MESSAGE_TIMESTAMP")
    assert expiry.channel_expires_at(quiet) == 1000.0 + 2 * DAY  # no message: from creation
    assert not expiry.is_due(expiry.channel_expires_at(created), 1000.0 + 2 * DAY - 1)
    assert expiry.is_due(expiry.channel_expires_at(created), 1000.0 + 2 * DAY)
    assert not expiry.is_due(None, 1e12)


def test_user_expiry_and_retention_cutoff() -> None:
    user = AppInstanceUser(ALICE, APP, "a", None, 50.0, 50.0, 3, "CREATED_TIMESTAMP")
    assert expiry.user_expires_at(user) == 50.0 + 3 * DAY
    assert expiry.user_expires_at(AppInstanceUser(ALICE, APP, "a", None, 50.0, 50.0)) is None
    assert expiry.retention_cutoff(10 * DAY, 7) == 3 * DAY


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.delay(3, jitter=0.5) == 1.0
    health = SinkHealth()
    assert health.ready(0.0)
    assert health.failed(100.0, backoff) == 0.5 and not health.ready(100.4)
    assert health.failed(100.0, backoff) == 1.0 and health.ready(101.0)
    health.succeeded()
    assert health.failures == 0 and health.ready(0.0)


def test_the_clock_moves_forward_only() -> None:
    clock = Clock(source=lambda: 100.0)
    assert clock.now() == 100.0
    assert clock.advance(5, days=1) == 100.0 + 5 + DAY
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_a_sink_url_is_opened_by_its_scheme_or_refused() -> None:
    from bellwire.export import sinks

    assert isinstance(sinks.open_sink("redis://127.0.0.1:6379/0?stream=k"), sinks.RedisSink)
    nats = sinks.open_sink("nats://127.0.0.1:4222?subject=a.b")
    assert isinstance(nats, sinks.NatsSink) and nats.stream == "bellwire-a_b"
    for url in ("redis://127.0.0.1:6379/0", "nats://127.0.0.1:4222", "http://h/x", "ftp://h/"):
        with pytest.raises(sinks.SinkError):
            sinks.open_sink(url)  # no key, no subject, no webhook caller, no such sink


def test_a_sub_channels_events_are_streamed_under_their_channel() -> None:
    route = CH + "/subchannel/s1"
    records = records_of(
        [
            message_event(
                EventType.CREATE_CHANNEL_MESSAGE,
                route,
                1,
                {"ChannelArn": CH},
                message_type="STANDARD",
                sender=ALICE,
                target=None,
            )
        ]
    )
    assert [(r.channel_arn, r.event_type) for r in records] == [(CH, "CREATE_CHANNEL_MESSAGE")]
    assert routed(records, {APP: {"ChannelMessage": STREAM}})[0][:2] == (STREAM, CH)
