import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwire.events import Event, EventType, FrameError, MessageType, decode, iso_timestamp
from bellwire.gateway.frames import PING, event_frame, text_frame


def test_iso_timestamps_have_milliseconds_and_z() -> None:
    assert iso_timestamp(1622737591.013) == "2021-06-03T16:26:31.013Z"
    assert (
        iso_timestamp(datetime(2021, 6, 3, 16, 26, 31, 999_999, UTC)) == "2021-06-03T16:26:31.999Z"
    )
    assert iso_timestamp(None) is None


@pytest.mark.parametrize(
    "seconds",
    [
        0.0,
        1622737591.013,
        1622737591.9999995,  # rounds up into the next second, as datetime does
        1622737591.9999994,
        1622737591.0005,
        1622737592.0000004,
        -1.5,  # before 1970
        -0.0000004,
        2**31 + 0.25,
    ],
)
def test_iso_timestamps_of_epoch_seconds_are_datetimes_own(seconds: float) -> None:
    # The second's text is kept between calls: each value after another second's too.
    for before in (None, seconds - 1, seconds + 1):
        if before is not None:
            iso_timestamp(before)
        m = datetime.fromtimestamp(seconds, UTC)
        assert iso_timestamp(seconds) == m.strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{m.microsecond // 1000:03d}Z"
        )


def test_payload_is_a_json_string_inside_the_envelope() -> None:
    event = Event(EventType.CREATE_CHANNEL_MESSAGE, MessageType.CONTROL, {"MessageId": "m1"})
    envelope = json.loads(event.encode())
    assert envelope["Headers"] == {
        "x-amz-chime-event-type": "CREATE_CHANNEL_MESSAGE",
        "x-amz-chime-message-type": "CONTROL",
    }
    assert isinstance(envelope["Payload"], str)
    assert json.loads(envelope["Payload"]) == {"MessageId": "m1"}


@given(
    content=st.text(alphabet=st.characters(codec=None, exclude_categories=())),
    reason=st.none() | st.text(max_size=8),
)
def test_a_frame_is_the_payloads_json_encoded_again(content: str, reason: str | None) -> None:
    # encode() escapes the payload's text by hand; it must be what json would write: quotes,
    # backslashes, control characters, non-ASCII and lone surrogates included.
    payload = {"Content": content, content: [content, 1.5, None, True, {"k": '\\"\n'}]}
    event = Event(EventType.CREATE_CHANNEL_MESSAGE, MessageType.STANDARD, payload, reason)
    headers = {
        "x-amz-chime-event-type": "CREATE_CHANNEL_MESSAGE",
        "x-amz-chime-message-type": "STANDARD",
    }
    if reason is not None:
        headers["x-amz-chime-event-reason"] = reason
    reference = {"Headers": headers, "Payload": json.dumps(payload, separators=(",", ":"))}
    assert event.encode() == json.dumps(reference, separators=(",", ":"))
    assert decode(event.encode()).payload == payload


def test_reason_header_only_when_set_and_null_payload() -> None:
    plain = json.loads(Event(EventType.SESSION_ESTABLISHED, MessageType.SYSTEM).encode())
    assert plain == {
        "Headers": {
            "x-amz-chime-event-type": "SESSION_ESTABLISHED",
            "x-amz-chime-message-type": "SYSTEM",
        },
        "Payload": None,
    }
    reasoned = Event(
        EventType.DELETE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, {}, "subchannel_DELETED"
    )
    assert (
        json.loads(reasoned.encode())["Headers"]["x-amz-chime-event-reason"] == "subchannel_DELETED"
    )


def test_decode_round_trips_and_keeps_unknown_types() -> None:
    event = Event(EventType.UPDATE_CHANNEL, MessageType.SYSTEM, {"ChannelArn": "a"})
    assert decode(event.encode()) == event
    unknown = decode('{"Headers":{"x-amz-chime-event-type":"NEW_THING"},"Payload":"{}"}')
    assert unknown.type == "NEW_THING" and unknown.message_type is MessageType.SYSTEM


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '{"Headers":{}}',
        '{"Headers":{"x-amz-chime-event-type":1}}',
        "[1]",
        '{"Headers":{"x-amz-chime-event-type":"X"},"Payload":"{bad"}',
    ],
)
def test_decode_rejects_what_is_not_an_envelope(text: str) -> None:
    with pytest.raises(FrameError):
        decode(text)


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f" + (65536).to_bytes(8, "big")),
    ],
)
def test_text_frame_lengths_follow_rfc6455(size: int, header: bytes) -> None:
    frame = text_frame(b"x" * size)
    assert frame[: len(header)] == header and len(frame) == len(header) + size


def test_event_frame_carries_the_encoded_event_and_ping_is_empty() -> None:
    event = Event(EventType.SESSION_ESTABLISHED, MessageType.SYSTEM)
    assert event_frame(event)[2:] == event.encode().encode()
    assert bytes([0x89, 0]) == PING
