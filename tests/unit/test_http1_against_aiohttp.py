"""The server's own head parsers against aiohttp's request parser, on generated heads.

A connection's requests are read by http1 until one it does not take, and from there by aiohttp
(bellwire/rest_connection.py), and a proxy in front may carry many clients' requests on one
connection. So wherever http1 takes a head, aiohttp must read the same request from the same
bytes: the same method, target and headers, the same body, and the next request starting where
http1 says it does. The gateway's /connect parser (gateway/request_head.py) likewise takes only
the upgrades aiohttp would have read the same way. Where either hands a head off, aiohttp
answers it, whatever it is.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import HttpRequestParser
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bellwire import http1
from bellwire.gateway import request_head

NEXT = b"GET /next HTTP/1.1\r\nHost: next\r\n\r\n"
SIGNED = "AWS4-HMAC-SHA256 Credential=AKID/20261205/us-east-1/chime/aws4_request, Signature=0f"

_TAME = [*"az09 -,;=/", "\t"]
_ODD_BYTES = ["\x00", "\x01", "\x7f", "é", "\r", "\n", "\x0b", "\x0c", " ", "\t"]
_FRAMING = [
    ("Transfer-Encoding", "chunked"),
    ("Transfer-Encoding", "identity"),
    ("Connection", "close"),
    ("Connection", "keep-alive"),
    ("Connection", "Upgrade"),
    ("Expect", "100-continue"),
    ("Upgrade", "websocket"),
    ("Upgrade", "h2c"),
    ("TE", "trailers"),
]
_MUTATIONS = (
    "method",
    "version",
    "target",
    "line end",
    "separator",
    "length",
    "framing",
    "repeat",
    "drop",
    "value",
    "name",
)


def _mutated(
    draw: st.DrawFn, method: str, target: str, headers: list[list[str]], mutations: int
) -> str:
    """The head of a request line and ``headers``, in any order, with up to ``mutations`` of
    its parts made a little wrong: a method, version, target byte, line end, separator,
    Content-Length, framing header, repeated or missing header, value or name that aiohttp may
    read another way."""
    version = "HTTP/1.1"
    headers = [headers[i] for i in draw(st.permutations(range(len(headers))))]
    separators = [": "] * len(headers)
    ends = ["\r\n"] * (len(headers) + 1)
    for mutation in draw(st.lists(st.sampled_from(_MUTATIONS), max_size=mutations)):
        if mutation == "method":
            method = draw(st.sampled_from(["HEAD", "PATCH", "OPTIONS", "get", "G\tET", "GET "]))
        elif mutation == "version":
            version = draw(st.sampled_from(["HTTP/1.0", "HTTP/1.10", "HTTP/2.0", "http/1.1"]))
        elif mutation == "target":
            at = draw(st.integers(0, len(target)))
            target = target[:at] + draw(st.sampled_from(_ODD_BYTES)) + target[at:]
        elif mutation == "line end":
            i = draw(st.integers(0, len(ends) - 1))
            ends[i] = draw(st.sampled_from(["\n", "\r", "\r\n ", "\r\n\t", " \r\n"]))
        elif mutation == "separator":
            i = draw(st.integers(0, len(headers) - 1))
            separators[i] = draw(st.sampled_from([" :", ":\t", ":", ":  ", "\t:", "::"]))
        elif mutation == "length":
            odd = ["+3", " 3", "3 ", "3, 3", "3,3", "0x3", "", "-1", "99999999999999", "३", "1e1"]
            for header in headers:
                if header[0] == "Content-Length":
                    header[1] = draw(st.sampled_from(odd))
        elif mutation == "framing":
            at = draw(st.integers(0, len(headers)))
            headers.insert(at, list(draw(st.sampled_from(_FRAMING))))
            separators.insert(at, ": ")
            ends.append("\r\n")
        elif mutation == "repeat":
            at = draw(st.integers(0, len(headers) - 1))
            name, value = headers[at]
            headers.append([name, draw(st.sampled_from([value, "3", "h2"]))])
            separators.append(": ")
            ends.append("\r\n")
        elif mutation == "drop" and len(headers) > 1:
            at = draw(st.integers(0, len(headers) - 1))
            del headers[at], separators[at], ends[at + 1]
        elif mutation == "value":
            header = headers[draw(st.integers(0, len(headers) - 1))]
            at = draw(st.integers(0, len(header[1])))
            header[1] = header[1][:at] + draw(st.sampled_from(_ODD_BYTES)) + header[1][at:]
        elif mutation == "name":
            header = headers[draw(st.integers(0, len(headers) - 1))]
            at = draw(st.integers(0, len(header[0])))
            header[0] = header[0][:at] + draw(st.sampled_from(_ODD_BYTES)) + header[0][at:]
    head = f"{method} {target} {version}" + ends[0]
    for (name, value), separator, end in zip(headers, separators, ends[1:], strict=True):
        head += name + separator + value + end
    return head + "\r\n"


def _extra(draw: st.DrawFn) -> list[list[str]]:
    return [
        [
            draw(st.sampled_from(["X-Amz-Date", "Content-Type", "x", "User-Agent"])),
            draw(st.text(st.sampled_from(_TAME), max_size=6)),
        ]
        for _ in range(draw(st.integers(0, 2)))
    ]


@st.composite
def _requests(draw: st.DrawFn) -> bytes:
    """A signed REST request http1 takes, a little wrong here and there (``_mutated``), a body
    of three bytes whatever the head says, then another request."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    target = "/" + draw(st.text(st.sampled_from([*"/az09%?=&#-._~+;:@!$'()*,"]), max_size=8))
    length = draw(st.sampled_from(["0", "3", "03"]))
    headers = [["Host", "h"], ["Authorization", SIGNED], ["Content-Length", length]]
    head = _mutated(draw, method, target, headers + _extra(draw), 2)
    return head.encode("utf-8") + b"abc" + NEXT


@st.composite
def _connects(draw: st.DrawFn) -> bytes:
    """A /connect WebSocket upgrade the gateway takes, a little wrong here and there."""
    query = draw(st.text(st.sampled_from([*"az09%=&-._~"]), max_size=8))
    headers = [
        ["Host", "h"],
        ["Upgrade", draw(st.sampled_from(["websocket", "WebSocket"]))],
        ["Connection", draw(st.sampled_from(["Upgrade", "keep-alive, Upgrade", "upgrade"]))],
        ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
        ["Sec-WebSocket-Version", "13"],
    ]
    if draw(st.booleans()):
        headers.append(["Origin", "https://app.example"])
    head = _mutated(draw, "GET", "/connect?" + query, headers + _extra(draw), 2)
    return head.encode("utf-8")


def _agree(data: bytes) -> None:
    head = http1.parse_head(data, max_body=1_000_000)
    if not isinstance(head, http1.RestHead):
        return  # handed off (or incomplete): aiohttp reads it, whatever it is
    boundary = head.size + head.content_length
    loop = asyncio.new_event_loop()
    try:
        parser = HttpRequestParser(BaseProtocol(loop), loop, 2**16)
        try:
            [(message, payload)], _, _ = parser.feed_data(data[:boundary])
        except HttpProcessingError as exc:
            pytest.fail(f"http1 took a head that aiohttp refuses ({exc!r}): {data!r}")
        assert (message.method, message.path) == (head.method, head.raw_path)
        assert tuple(message.version) == (1, 1)
        assert not (message.should_close or message.upgrade or message.chunked)
        assert [(n.decode(), v.decode()) for n, v in message.raw_headers] == list(head.pairs)
        assert payload.is_eof() and payload.total_bytes == head.content_length
        # The next request starts where http1 says this one ends, and aiohttp reads it there.
        if data[boundary:].startswith(NEXT):
            [(following, _)], _, _ = parser.feed_data(NEXT)
            assert following.path == "/next"
    finally:
        loop.close()


@settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(_requests())
@example(
    b"POST / HTTP/1.1\r\nHost: h\r\nAuthorization: " + SIGNED.encode() + b"\r\n"
    b"Content-Length: 3\r\n\r\nabc" + NEXT
)
def test_what_http1_takes_aiohttp_reads_the_same(data: bytes) -> None:
    _agree(data)


@settings(
    max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(_connects())
def test_what_the_gateway_takes_aiohttp_reads_the_same(data: bytes) -> None:
    """The gateway takes a /connect head without aiohttp: aiohttp would have read the same
    upgrade from it (a head it would refuse with 400 is left to it)."""
    parsed = request_head.parse(data, remote=None, secure=False)
    if not isinstance(parsed, request_head.Parsed):
        return
    loop = asyncio.new_event_loop()
    try:
        parser = HttpRequestParser(BaseProtocol(loop), loop, 2**16)
        try:
            [(message, _)], _, _ = parser.feed_data(data)
        except HttpProcessingError as exc:
            pytest.fail(f"the gateway took a head that aiohttp refuses ({exc!r}): {data!r}")
        assert (message.method, message.path) == ("GET", parsed.head.raw_path)
        assert tuple(message.version) == (1, 1) and message.upgrade and not message.chunked
        raw = [(n.decode(), v.decode()) for n, v in message.raw_headers]
        assert raw == list(parsed.head.headers.items())
        assert parsed.size == len(data)
    finally:
        loop.close()
