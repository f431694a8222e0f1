"""``bellwire listen`` output: readable lines, JSON lines, and notices."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bellwire.cli import build_parser
from bellwire.client import (
    CaughtUp,
    Connecting,
    Established,
    EventType,
    Gap,
    MessageType,
    Reconnecting,
    SessionEvent,
    Stopped,
    StopReason,
)
from bellwire.listen import format_event, format_json, format_notice

CHANNEL = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c1"
USER = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/bob"
AT = datetime(2026, 1, 1, 9, 30, 1, 250000, tzinfo=UTC)


def test_readable_line_for_a_message() -> None:
    event = SessionEvent(
        EventType.CREATE_CHANNEL_MESSAGE,
        MessageType.STANDARD,
        {
            "ChannelArn": CHANNEL,
            "MessageId": "m1",
            "Content": "hi",
            "Sender": {"Arn": USER, "Name": "Bob"},
        },
        caught_up=True,
    )
    assert format_event(event, now=AT) == (
        f"09:30:01.250 CREATE_CHANNEL_MESSAGE STANDARD (caught up) channel={CHANNEL} id=m1 "
        "from=Bob content='hi'"
    )


def test_readable_lines_for_system_events() -> None:
    membership = SessionEvent(
        EventType.DELETE_CHANNEL_MEMBERSHIP,
        MessageType.SYSTEM,
        {"ChannelArn": CHANNEL, "Member": {"Arn": USER}},
        reason="subchannel_DELETED",
    )
    assert format_event(membership, now=AT) == (
        f"09:30:01.250 DELETE_CHANNEL_MEMBERSHIP SYSTEM reason=subchannel_DELETED "
        f"channel={CHANNEL} member={USER}"
    )
    details = SessionEvent(
        EventType.CHANNEL_DETAILS,
        MessageType.SYSTEM,
        {"Channel": {"ChannelArn": CHANNEL}, "ChannelMessages": [{}, {}]},
    )
    assert format_event(details, now=AT).endswith(f"channel={CHANNEL} messages=2")


def test_json_line_has_headers_and_the_decoded_payload() -> None:
    event = SessionEvent(EventType.UPDATE_CHANNEL, MessageType.SYSTEM, {"ChannelArn": CHANNEL})
    assert json.loads(format_json(event)) == {
        "type": "UPDATE_CHANNEL",
        "messageType": "SYSTEM",
        "reason": None,
        "headers": {
            "x-amz-chime-event-type": "UPDATE_CHANNEL",
            "x-amz-chime-message-type": "SYSTEM",
        },
        "payload": {"ChannelArn": CHANNEL},
        "caughtUp": False,
    }


def test_notices() -> None:
    assert format_notice(Connecting("h:1", False, 0)) == "connecting to h:1"
    assert format_notice(Connecting("h:1", True, 2)) == "connecting to h:1 (retry 2)"
    assert format_notice(Established("42", False)) == "session established (sessionId 42)"
    assert format_notice(Reconnecting(1012, "restart", 1, 0.5)) == (
        "closed with 1012 restart; reconnecting in 0.50s (retry 1)"
    )
    gap = Gap(AT, AT + timedelta(seconds=3), 1006, "", catching_up=True)
    assert format_notice(gap) == "reconnected after 3.0s: events may have been missed; catching up"
    assert format_notice(CaughtUp(2, 3, (("*", "AccessDenied"),))) == (
        "caught up 2 message(s) in 3 channel(s)\n  cannot read *: AccessDenied"
    )
    assert format_notice(Stopped(StopReason.WINDOW_EXHAUSTED, 4999, "down")) == (
        "stopped: reconnect window exhausted (code 4999): down"
    )


def test_cli_arguments() -> None:
    args = build_parser().parse_args(
        [
            "listen",
            "--user-arn",
            USER,
            "--endpoint-url",
            "http://127.0.0.1:8080",
            "--prefetch",
            "--json",
        ]
    )
    assert (args.command, args.user_arn, args.prefetch, args.json, args.catch_up) == (
        "listen",
        USER,
        True,
        True,
        False,
    )
    close = build_parser().parse_args(
        ["sessions", "close", "--user-arn", USER, "--code", "4419", "--endpoint-url", "http://x"]
    )
    assert (close.command, close.sessions_command, close.code) == ("sessions", "close", 4419)
