"""Vectors for the signed REST head parser and the answer encoder (bellwire/http1.py):
what the server's own REST connections take, and what they leave to aiohttp."""

from __future__ import annotations

import pytest

from bellwire.http1 import (
    HAND_OFF,
    MAX_HEAD,
    MAX_HEADERS,
    RestHead,
    encode_response,
    parse_head,
)

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20261205/us-east-1/chime/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc"
)
BODY = b'{"Content":"hi"}'


def request(
    *extra: str, line: str = "POST /channels/c/messages HTTP/1.1", body: bytes = BODY
) -> bytes:
    lines = [
        line,
        "Host: 127.0.0.1:8080",
        "X-Amz-Date: 20261205T000000Z",
        f"Authorization: {AUTH}",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def taken(data: bytes, max_body: int = 1 << 20) -> RestHead:
    head = parse_head(data, max_body=max_body)
    assert isinstance(head, RestHead), head
    return head


def test_a_signed_request_is_taken_with_its_headers_in_order() -> None:
    data = request("x-amz-chime-bearer:  arn:bearer \t") + b"GET /next"
    head = taken(data)
    assert (head.method, head.raw_path, head.content_length) == (
        "POST",
        "/channels/c/messages",
        len(BODY),
    )
    assert data[head.size : head.size + head.content_length] == BODY
    assert data[head.size + head.content_length :] == b"GET /next"  # a pipelined request
    assert head.pairs[0] == ("Host", "127.0.0.1:8080")
    assert head.pairs[-1] == ("x-amz-chime-bearer", "arn:bearer")  # values stripped, as aiohttp
    assert head.headers["X-Amz-Chime-Bearer"] == "arn:bearer"  # case-insensitive
    assert head.headers["authorization"] == AUTH


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_other_rest_methods_are_taken_without_a_body(method: str) -> None:
    data = request(line=f"{method} /app-instances?max-results=5 HTTP/1.1", body=b"").replace(
        b"Content-Length: 0\r\n", b""
    )
    head = taken(data)
    assert (head.method, head.raw_path, head.content_length, head.size) == (
        method,
        "/app-instances?max-results=5",
        0,
        len(data),
    )
    assert "Content-Length" not in head.headers


def test_connection_keep_alive_in_any_case_is_taken() -> None:
    assert taken(request("Connection: Keep-Alive")).headers["connection"] == "Keep-Alive"


def test_an_incomplete_head_waits() -> None:
    data = request()
    for cut in (1, 5, 30, data.index(b"\r\n\r\n") + 3):
        assert parse_head(data[:cut], max_body=1 << 20) is None, cut


@pytest.mark.parametrize(
    "start",
    [b"OPTIONS /", b"HEAD /x", b"PATCH /", b"GET x", b"\x16\x03\x01", b"garbage"],
)
def test_a_request_line_it_cannot_take_is_handed_off_before_the_head_ends(start: bytes) -> None:
    assert parse_head(start, max_body=1 << 20) is HAND_OFF


@pytest.mark.parametrize(
    "line",
    [
        "POST /channels HTTP/1.0",
        "POST /channels HTTP/2.0",
        "POST  /channels HTTP/1.1",
        "POST http://host/channels HTTP/1.1",
        "OPTIONS /channels HTTP/1.1",
        "post /channels HTTP/1.1",
        "POST /chan nels HTTP/1.1",
        "POST /ch\x7fannels HTTP/1.1",
    ],
)
def test_other_request_lines_are_handed_off(line: str) -> None:
    assert parse_head(request(line=line), max_body=1 << 20) is HAND_OFF


@pytest.mark.parametrize(
    "extra",
    [
        ("Transfer-Encoding: chunked",),
        ("Expect: 100-continue",),
        ("Upgrade: websocket",),
        ("Connection: close",),
        ("Connection: Upgrade",),
        ("Content-Length: 16",),  # a second one
        ("Host: other",),
        (f"Authorization: {AUTH}",),
        ("X-Folded: a", " continued"),  # an obsolete line fold
        ("X-Bad: a\x01b",),
        ("X-Utf8: caf\u00e9",),
        ("Bad Name: x",),
        ("User-Agent: a", "User-Agent: b"),  # aiohttp refuses these repeated (400)
        ("Content-Type: a", "Content-Type: b"),
        ("Transfer-Encoding: identity",),
        ("X-Long: " + "v" * 8191,),  # aiohttp refuses a value this long (400)
    ],
)
def test_headers_it_leaves_alone_hand_the_request_off(extra: tuple[str, ...]) -> None:
    data = request(*extra)
    assert parse_head(data, max_body=1 << 20) is HAND_OFF, extra


def test_a_bare_lf_hands_off() -> None:
    assert (
        parse_head(request().replace(b"\r\nX-Amz-Date", b"\nX-Amz-Date"), max_body=99) is HAND_OFF
    )


@pytest.mark.parametrize(
    "replace",
    [
        (b"Authorization: AWS4-HMAC-SHA256 ", b"Authorization: Basic "),
        (b"Authorization: ", b"X-Authorization: "),
        (b"Host: 127.0.0.1:8080\r\n", b""),
    ],
)
def test_unsigned_requests_and_requests_without_a_host_are_handed_off(
    replace: tuple[bytes, bytes],
) -> None:
    assert parse_head(request().replace(*replace), max_body=1 << 20) is HAND_OFF


@pytest.mark.parametrize("declared", ["-1", "+5", "1e3", " ", "0x10", "1234567890123"])
def test_a_content_length_that_is_not_plain_digits_hands_off(declared: str) -> None:
    data = request().replace(
        f"Content-Length: {len(BODY)}".encode(), f"Content-Length: {declared}".encode()
    )
    assert parse_head(data, max_body=1 << 40) is HAND_OFF, declared


def test_a_body_over_the_limit_is_handed_off_for_the_modeled_refusal() -> None:
    assert isinstance(parse_head(request(), max_body=len(BODY)), RestHead)
    assert parse_head(request(), max_body=len(BODY) - 1) is HAND_OFF


def test_heads_over_the_bounds_are_handed_off() -> None:
    many = [f"X-H{i}: v" for i in range(MAX_HEADERS)]
    assert parse_head(request(*many), max_body=1 << 20) is HAND_OFF
    assert isinstance(parse_head(request(*many[:-5]), max_body=1 << 20), RestHead)
    long_line = "POST /" + "a" * MAX_HEAD
    assert parse_head(long_line.encode(), max_body=1 << 20) is HAND_OFF  # no line end in sight
    endless = (
        request(line="POST /x HTTP/1.1").split(b"\r\n\r\n")[0] + b"\r\nX-Pad: " + b"p" * MAX_HEAD
    )
    assert parse_head(endless, max_body=1 << 20) is HAND_OFF  # no blank line in sight
    # Within the head's bound but over aiohttp's for a target (400 there)
    assert parse_head(request(line=f"GET /{'a' * 8190} HTTP/1.1"), max_body=1) is HAND_OFF


def test_an_answer_is_framed_with_its_length_date_and_server() -> None:
    data = encode_response(
        201,
        "Created",
        [("Content-Type", "application/json"), ("x-amzn-RequestId", "r-1")],
        b'{"a":1}',
        date="Sat, 05 Dec 2026 00:00:00 GMT",
        server="S/1",
        close=False,
    )
    assert data == (
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nx-amzn-RequestId: r-1\r\n"
        b"Content-Length: 7\r\nDate: Sat, 05 Dec 2026 00:00:00 GMT\r\nServer: S/1\r\n\r\n"
        b'{"a":1}'
    )
    closing = encode_response(503, "Service Unavailable", [], b"", date="D", server="S", close=True)
    assert closing == (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nDate: D\r\nServer: S\r\n"
        b"Connection: close\r\n\r\n"
    )


def test_a_204_has_no_length_and_no_body() -> None:
    data = encode_response(
        204, "No Content", [("x-amzn-RequestId", "r")], b"", date="D", server="S", close=False
    )
    assert data == b"HTTP/1.1 204 No Content\r\nx-amzn-RequestId: r\r\nDate: D\r\nServer: S\r\n\r\n"


@pytest.mark.parametrize(
    "header", [("X-Name", "a\r\nSet-Cookie: x"), ("X-Name", "a\nb"), ("X\r\nY", "v")]
)
def test_a_line_break_in_an_answers_header_is_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_response(200, "OK", [header], b"", date="D", server="S", close=False)
