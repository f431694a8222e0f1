"""Vectors for the /connect request-head parser: what it takes, and what it leaves to aiohttp."""

from __future__ import annotations

import pytest

from bellwire.gateway import handshake
from bellwire.gateway.request_head import Parsed, could_be_connect, parse
from bellwire.http1 import HAND_OFF, MAX_HEAD, MAX_HEADERS

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def head(*lines: str, target: str = "/connect?userArn=a&X-Amz-Signature=b") -> bytes:
    base = [
        f"GET {target} HTTP/1.1",
        "Host: chime.example:443",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    return ("\r\n".join([*base, *lines]) + "\r\n\r\n").encode()


def parsed(data: bytes) -> Parsed:
    result = parse(data, remote="10.0.0.1", secure=True)
    assert isinstance(result, Parsed), result
    return result


def test_a_plain_upgrade_is_taken() -> None:
    data = head("Origin: https://app.example") + b"\x81\x80tail"
    p = parsed(data)
    assert p.accept == ACCEPT == handshake.accept_key(KEY)
    assert data[p.size :] == b"\x81\x80tail"
    h = p.head
    assert (h.method, h.raw_path, h.host) == (
        "GET",
        "/connect?userArn=a&X-Amz-Signature=b",
        "chime.example:443",
    )
    assert h.headers["origin"] == "https://app.example"  # case-insensitive, as aiohttp's
    assert next(iter(h.headers.items())) == ("Host", "chime.example:443")  # names as sent
    assert (h.remote, h.secure) == ("10.0.0.1", True)


def test_values_lose_their_surrounding_whitespace() -> None:
    p = parsed(head("X-Note: \t spaced  \t"))
    assert p.head.headers["X-Note"] == "spaced"
    assert list(p.head.headers.items())[-1] == ("X-Note", "spaced")


def test_the_bare_path_is_taken() -> None:
    assert parsed(head(target="/connect")).head.raw_path == "/connect"


@pytest.mark.parametrize("cut", [0, 1, 5, 12, 40, -3, -1])
def test_an_incomplete_head_waits(cut: int) -> None:
    data = head()
    assert parse(data[:cut], remote=None, secure=False) is None


@pytest.mark.parametrize(
    "first",
    [
        b"POST /connect HTTP/1.1\r\n",
        b"GET /channels HTTP/1.1\r\n",
        b"OPTIONS /connect",
        b"\x16\x03",
    ],
)
def test_other_requests_are_left_at_once(first: bytes) -> None:
    assert not could_be_connect(first)
    assert parse(first, remote=None, secure=False) is HAND_OFF


@pytest.mark.parametrize(
    "data",
    [
        head(target="/connectx"),
        head(target="/connect/"),
        head(target="/connect#x"),
        head(target="/connect?a b"),
        head().replace(b"HTTP/1.1", b"HTTP/1.0"),
        head().replace(b"GET /", b"GET  /"),
        head("X-Folded: a", " continued"),  # obs-fold
        head("X-Folded: a", "\tcontinued"),
        head().replace(b"\r\nUpgrade", b"\nUpgrade"),  # a bare LF
        head("X-Bad: a\rb"),
        head("X-Bad: \x00"),
        head("X-Latin: caf\xe9"),  # obs-text: aiohttp's to decode
        head("Bad Name: x"),
        head("NoColon"),
        head(": empty name"),
        head("Content-Length: 0"),
        head("Transfer-Encoding: chunked"),
        head("Host: other.example"),
        head("Origin: https://a.example", "Origin: https://b.example"),
        head("User-Agent: a", "User-Agent: b"),  # aiohttp refuses these repeated (400)
        head("X-Long: " + "v" * 8191),  # aiohttp refuses a value this long (400)
        head("sec-websocket-key: " + KEY),
        head().replace(b"Host: chime.example:443\r\n", b""),
        head().replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        head().replace(b"Connection: Upgrade", b"Connection: keep-alive"),
        head().replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 12"),
        head().replace(KEY.encode(), b"short"),
        head(*[f"X-{i}: {i}" for i in range(MAX_HEADERS)]),
    ],
)
def test_anything_unusual_is_left_to_the_http_server(data: bytes) -> None:
    assert parse(data, remote=None, secure=False) is HAND_OFF


def test_the_head_is_bounded() -> None:
    big = head("X-Big: " + "a" * MAX_HEAD)
    assert parse(big, remote=None, secure=False) is HAND_OFF
    # Even before its end arrives.
    assert parse(big[: MAX_HEAD + 1], remote=None, secure=False) is HAND_OFF
    assert parse(big[: MAX_HEAD - 100], remote=None, secure=False) is None


def test_a_list_of_connection_tokens_is_an_upgrade() -> None:
    data = head().replace(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade")
    assert parsed(data).accept == ACCEPT
