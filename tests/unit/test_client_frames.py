"""The client-frame codec and the opening handshake, with vectors (RFC 6455 §4.2.2, §5.7)."""

from __future__ import annotations

import pytest

from bellwire.gateway.client_frames import (
    BINARY,
    CLOSE,
    PING,
    PONG,
    TEXT,
    ClientFrames,
    ProtocolError,
    close_code_allowed,
    close_frame,
    parse_close,
    pong_frame,
    unmask,
)
from bellwire.gateway.handshake import HandshakeError, accept_key, check_upgrade

KEY = b"\x37\xfa\x21\x3d"
# RFC 6455 §5.7: a masked "Hello" and a masked ping with "Hello".
MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")
MASKED_PING_HELLO = bytes.fromhex("898537fa213d7f9f4d5158")


def masked(first: int, payload: bytes, key: bytes = KEY) -> bytes:
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((first, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, 0x80 | 127)) + size.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_rfc_vectors() -> None:
    parser = ClientFrames(1000)
    assert parser.feed(MASKED_HELLO) == [(TEXT, b"Hello")]
    assert parser.feed(MASKED_PING_HELLO) == [(PING, b"Hello")]


def test_unmask_matches_the_definition() -> None:
    data = bytes(range(256)) * 3 + b"odd"
    assert unmask(KEY, data) == bytes(b ^ KEY[i % 4] for i, b in enumerate(data))
    assert unmask(KEY, b"") == b""


def test_frames_split_at_every_byte_and_joined_in_one_read() -> None:
    stream = (
        masked(0x01, b"frag ", key=b"\x01\x02\x03\x04")
        + masked(0x89, b"mid")
        + masked(0x80, b"ment")
        + masked(0x82, b"x" * 300)
        + masked(0x82, b"y" * 70_000)
        + masked(0x8A, b"")
    )
    expected = [(PING, b"mid"), (TEXT, b"frag ment"), (BINARY, b"x" * 300)]
    expected += [(BINARY, b"y" * 70_000), (PONG, b"")]
    whole = ClientFrames(100_000)
    assert whole.feed(stream) == expected
    split = ClientFrames(100_000)
    got: list[tuple[int, bytes]] = []
    for i in range(0, len(stream), 7):
        got += split.feed(stream[i : i + 7])
    assert got == expected


@pytest.mark.parametrize(
    "data,code",
    [
        (bytes((0x81, 0x05)) + b"Hello", 1002),  # unmasked
        (masked(0xC1, b"x"), 1002),  # RSV1
        (masked(0xA1, b"x"), 1002),  # RSV2
        (masked(0x91, b"x"), 1002),  # RSV3
        (masked(0x83, b"x"), 1002),  # opcode 3
        (masked(0x8B, b"x"), 1002),  # opcode 11
        (masked(0x09, b"x"), 1002),  # fragmented ping
        (masked(0x89, b"x" * 126), 1002),  # control over 125
        (masked(0x80, b"x"), 1002),  # continuation of nothing
        (masked(0x01, b"a") + masked(0x81, b"b"), 1002),  # new message while fragmented
        (masked(0x81, b"\xc3\x28"), 1007),
        (masked(0x01, b"\xe2\x82") + masked(0x80, b"\x28"), 1007),
        (masked(0x81, b"x" * 101), 1009),
        (masked(0x01, b"x" * 60) + masked(0x80, b"x" * 41), 1009),
        (bytes((0x82, 0xFF)) + (1 << 62).to_bytes(8, "big"), 1009),  # refused from its header
    ],
)
def test_what_a_server_must_refuse(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        ClientFrames(100).feed(data)
    assert caught.value.code == code


def test_a_message_at_the_limit_is_accepted() -> None:
    assert ClientFrames(100).feed(masked(0x81, b"x" * 100)) == [(TEXT, b"x" * 100)]


def test_close_frames() -> None:
    assert ClientFrames(10).feed(masked(0x88, b"\x03\xe8bye")) == [(CLOSE, b"\x03\xe8bye")]
    assert parse_close(b"") == (1005, "")
    assert parse_close(b"\x03\xe8bye") == (1000, "bye")
    assert parse_close(b"\x0f\xa0" + "✓".encode()) == (4000, "✓")
    for bad, code in [(b"\x03", 1002), (b"\x03\xed", 1002), (b"\x03\xe8\xff", 1007)]:
        with pytest.raises(ProtocolError) as caught:
            parse_close(bad)
        assert caught.value.code == code


def test_close_codes_allowed_on_the_wire() -> None:
    allowed = [c for c in range(0, 5100) if close_code_allowed(c)]
    assert allowed == [1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)]


def test_server_frames() -> None:
    assert close_frame(1000) == b"\x88\x02\x03\xe8"
    assert close_frame(4003, b"no") == b"\x88\x04\x0f\xa3no"
    assert len(close_frame(1000, b"r" * 200)) == 2 + 125
    assert pong_frame(b"hi") == b"\x8a\x02hi"


UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "keep-alive, Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}


def test_handshake_vector() -> None:
    # RFC 6455 §1.3
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert check_upgrade("GET", UPGRADE) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    "method,change,status",
    [
        ("POST", {}, 405),
        ("GET", {"Upgrade": "h2c"}, 400),
        ("GET", {"Connection": "keep-alive"}, 400),
        ("GET", {"Sec-WebSocket-Version": "12"}, 400),
        ("GET", {"Sec-WebSocket-Key": "c2hvcnQ="}, 400),
        ("GET", {"Sec-WebSocket-Key": "not base64!!"}, 400),
    ],
)
def test_handshake_refusals(method: str, change: dict[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as caught:
        check_upgrade(method, {**UPGRADE, **change})
    assert caught.value.status == status
