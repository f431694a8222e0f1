"""Catch-up bookkeeping: which channels, from when, and no message twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bellwire.client.catchup import CatchUpState, caught_up_payload, parse_timestamp
from bellwire.events import Event, EventType, MessageType

ME = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/me"
OTHER = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/other"
C1 = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c1"
C2 = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c2"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
MARGIN = timedelta(seconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def iso(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at(seconds).microsecond // 1000:03d}Z"


def message(kind: EventType, channel: str, message_id: str, created: float) -> Event:
    payload = {"ChannelArn": channel, "MessageId": message_id, "CreatedTimestamp": iso(created)}
    return Event(kind, MessageType.STANDARD, payload)


def system(kind: EventType, payload: dict[str, Any]) -> Event:
    return Event(kind, MessageType.SYSTEM, payload)


@pytest.fixture
def state() -> CatchUpState:
    s = CatchUpState(ME, margin=MARGIN)
    s.established(at(0))
    return s


def test_timestamps_in_every_shape_the_client_meets() -> None:
    assert parse_timestamp("2021-06-03T16:26:31.013Z") == datetime(
        2021, 6, 3, 16, 26, 31, 13000, tzinfo=UTC
    )
    assert parse_timestamp(1_700_000_000.5) == datetime.fromtimestamp(1_700_000_000.5, UTC)
    naive = datetime(2026, 1, 1)
    assert parse_timestamp(naive) == naive.replace(tzinfo=UTC)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(True) is None
    assert parse_timestamp(None) is None


def test_nothing_to_catch_up_before_any_establishment() -> None:
    fresh = CatchUpState(ME, margin=MARGIN)
    assert fresh.plan([C1]) == []
    fresh.established(at(5))
    fresh.established(at(99))  # only the first establishment counts
    assert fresh.plan([C1]) == [(C1, at(5) - MARGIN)]


def test_cursor_is_the_newest_message_seen_per_channel(state: CatchUpState) -> None:
    state.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "a", 10))
    state.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "b", 30))
    state.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "late", 20))  # out of order
    state.observe(system(EventType.CREATE_CHANNEL_MEMBERSHIP, {"ChannelArn": C2}))
    assert state.plan(None) == [(C1, at(30) - MARGIN), (C2, at(0) - MARGIN)]


def test_an_old_message_does_not_pull_the_cursor_before_the_origin(state: CatchUpState) -> None:
    # An edit of a month-old message, or a prefetch summary, must not replay a month.
    state.observe(message(EventType.UPDATE_CHANNEL_MESSAGE, C1, "old", -30 * 86400))
    assert state.plan(None) == [(C1, at(0) - MARGIN)]


def test_memberships_decide_the_channels(state: CatchUpState) -> None:
    state.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "a", 10))
    # C1 was left while away (not listed), C2 joined while away.
    assert state.plan([C2, C2]) == [(C2, at(0) - MARGIN)]
    assert state.plan([C1, C2]) == [(C1, at(10) - MARGIN), (C2, at(0) - MARGIN)]


def test_channels_are_forgotten_when_deleted_or_left(state: CatchUpState) -> None:
    for channel in (C1, C2):
        state.observe(system(EventType.CREATE_CHANNEL, {"ChannelArn": channel}))
    state.observe(
        system(EventType.DELETE_CHANNEL_MEMBERSHIP, {"ChannelArn": C1, "Member": {"Arn": OTHER}})
    )
    assert state.channels == [C1, C2]  # someone else left: still ours
    state.observe(
        system(EventType.DELETE_CHANNEL_MEMBERSHIP, {"ChannelArn": C1, "Member": {"Arn": ME}})
    )
    state.observe(system(EventType.DELETE_CHANNEL, {"ChannelArn": C2}))
    assert state.channels == []


def test_prefetch_counts_as_seen(state: CatchUpState) -> None:
    details = system(
        EventType.CHANNEL_DETAILS,
        {
            "Channel": {"ChannelArn": C1},
            "ChannelMessages": [
                {"MessageId": "p2", "CreatedTimestamp": iso(8)},
                {"MessageId": "p1", "CreatedTimestamp": iso(7)},
            ],
        },
    )
    state.observe(details)
    assert state.seen(C1, "p1") and state.seen(C1, "p2")
    assert state.plan(None) == [(C1, at(8) - MARGIN)]


def test_accept_drops_what_was_seen_and_converts_the_rest(state: CatchUpState) -> None:
    state.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "seen", 10))
    summary_seen = {"MessageId": "seen", "CreatedTimestamp": at(10)}
    summary_new = {
        "MessageId": "new",
        "Content": "hi",
        "Type": "STANDARD",
        "CreatedTimestamp": at(11.25),
        "Sender": {"Arn": OTHER, "Name": "Other"},
    }
    assert state.accept(C1, summary_seen) is None
    payload = state.accept(C1, summary_new)
    assert payload == {
        "ChannelArn": C1,
        "MessageId": "new",
        "Content": "hi",
        "Type": "STANDARD",
        "CreatedTimestamp": "2026-01-01T12:00:11.250Z",
        "Sender": {"Arn": OTHER, "Name": "Other"},
        "Persistence": "PERSISTENT",
    }
    assert state.accept(C1, summary_new) is None  # listed twice (overlapping pages): once
    assert state.plan(None) == [(C1, at(11.25) - MARGIN)]
    # The same message arriving live right after the catch-up is a duplicate; edits are news.
    live = message(EventType.CREATE_CHANNEL_MESSAGE, C1, "new", 11.25)
    assert state.is_duplicate(live)
    assert not state.is_duplicate(message(EventType.UPDATE_CHANNEL_MESSAGE, C1, "new", 11.25))
    assert not state.is_duplicate(message(EventType.CREATE_CHANNEL_MESSAGE, C2, "new", 11.25))


def test_pending_messages_do_not_count_as_seen(state: CatchUpState) -> None:
    # A flow may approve a pending message while the socket is down: its CREATE was missed.
    state.observe(message(EventType.PENDING_CREATE_CHANNEL_MESSAGE, C1, "p", 10))
    assert not state.seen(C1, "p")
    assert state.accept(C1, {"MessageId": "p", "CreatedTimestamp": at(10)}) is not None


@pytest.mark.parametrize("value", ["PENDING", "FAILED"])
def test_a_listed_message_a_flow_holds_is_not_caught_up(state: CatchUpState, value: str) -> None:
    # Its sender lists it while a flow holds it; once SENT, its live CREATE is the news.
    listed = {"MessageId": "p", "CreatedTimestamp": at(10), "Status": {"Value": value}}
    assert state.accept(C1, listed) is None
    assert not state.is_duplicate(message(EventType.CREATE_CHANNEL_MESSAGE, C1, "p", 10))
    sent = {**listed, "Status": {"Value": "SENT"}}
    assert state.accept(C1, sent) is not None


def test_seen_ids_are_bounded_per_channel() -> None:
    small = CatchUpState(ME, margin=MARGIN, max_ids=3)
    small.established(T0)
    for i in range(5):
        small.observe(message(EventType.CREATE_CHANNEL_MESSAGE, C1, f"m{i}", i))
    assert [small.seen(C1, f"m{i}") for i in range(5)] == [False, False, True, True, True]


def test_caught_up_payload_keeps_an_explicit_persistence() -> None:
    assert caught_up_payload(C1, {"Persistence": "NON_PERSISTENT"})["Persistence"] == (
        "NON_PERSISTENT"
    )


def test_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError):
        CatchUpState(ME, margin=timedelta(seconds=-1))


def test_an_elastic_channel_is_caught_up_in_the_users_sub_channel(state: CatchUpState) -> None:
    assert state.sub_channel(C1) is None
    state.observe(
        system(
            EventType.CREATE_CHANNEL_MEMBERSHIP,
            {"ChannelArn": C1, "Member": {"Arn": ME}, "SubChannelId": "s0"},
        )
    )
    assert state.sub_channel(C1) == "s0"
    # Someone else's membership says nothing of the user's sub-channel.
    state.observe(
        system(
            EventType.CREATE_CHANNEL_MEMBERSHIP,
            {"ChannelArn": C1, "Member": {"Arn": OTHER}, "SubChannelId": "s9"},
        )
    )
    assert state.sub_channel(C1) == "s0"
    # Balancing moved the user: UPDATE_CHANNEL_MEMBERSHIP names the new sub-channel.
    state.observe(
        system(
            EventType.UPDATE_CHANNEL_MEMBERSHIP,
            {"ChannelArn": C1, "Member": {"Arn": ME}, "SubChannelId": "s1"},
        )
    )
    assert state.sub_channel(C1) == "s1"
    state.in_sub_channel(C2, "s7")  # from ListChannelMembershipsForAppInstanceUser
    assert state.sub_channel(C2) == "s7"
