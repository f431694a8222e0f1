"""A signed REST request's head and its answer in HTTP/1.1, without the HTTP server (pure).

The REST connections of ``bellwire.rest_connection`` read their requests with this parser
and write their answers with :func:`encode_response`. As with the /connect head
(``bellwire.gateway.request_head``), the parser only takes what it is sure of: an HTTP/1.1
request of a REST method, signed with an ``Authorization`` header, framed by one
``Content-Length`` (or none), kept alive, every header a token and a value of visible ASCII.
Anything else (chunked bodies, ``Expect``, ``Upgrade``, ``Connection: close``, an obsolete
fold, a repeated header that must be single, a head or body over the bounds) is
:data:`HAND_OFF`: the connection goes to aiohttp with the bytes read so far, which answers it
exactly as it always did. What this parser takes, aiohttp would have read with the same meaning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

MAX_HEAD: Final = 16_384  # bytes up to and including the blank line
MAX_HEADERS: Final = 100
# aiohttp refuses a request target, a header name or a header value longer than this (400):
# a line over it is left to aiohttp.
MAX_LINE: Final = 8190
METHODS: Final = frozenset({b"GET", b"POST", b"PUT", b"DELETE"})
_STARTS: Final = tuple(method + b" /" for method in METHODS)
# Header lines, each ending in CRLF: a token, a colon and a value of visible ASCII, spaces and
# tabs. No control byte; no obs-text either, which aiohttp decodes as UTF-8 (surrogateescape)
# and is left to it.
HEADER_LINES: Final = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*\r\n)*")
_TARGET: Final = re.compile(rb"/[\x21-\x7e]*")
_DIGITS: Final = re.compile(r"[0-9]{1,12}")
# Headers aiohttp refuses to see twice in a request (400); a head that repeats one is its.
AIOHTTP_SINGLETONS: Final = frozenset(
    {
        "content-length",
        "content-location",
        "content-range",
        "content-type",
        "etag",
        "host",
        "max-forwards",
        "server",
        "transfer-encoding",
        "user-agent",
    }
)
# Headers that must appear once for the request to mean one thing.
_SINGLE: Final = AIOHTTP_SINGLETONS | {"authorization", "connection"}
# Framing and protocol questions are aiohttp's to answer.
_REFUSED: Final = frozenset({"transfer-encoding", "expect", "upgrade"})
_SIGNED: Final = "AWS4-HMAC-SHA256 "
_BODILESS: Final = frozenset({204, 304})


class HandOff:
    """The head is not one this parser takes: the HTTP server answers it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "HAND_OFF"


HAND_OFF: Final = HandOff()


@dataclass(slots=True)  # not frozen: made per request, and frozen costs its __init__
class RestHead:
    method: str
    raw_path: str  # as sent, query included
    pairs: tuple[tuple[str, str], ...]  # the headers in order, names as sent
    headers: CIMultiDictProxy[str]
    content_length: int
    size: int  # bytes of the head; the body follows


def header_pairs(
    data: bytes, start: int, end: int, *, single: frozenset[str], refused: frozenset[str]
) -> list[tuple[str, str]] | None:
    """The header lines of ``data[start:end]`` (after the request line, before the blank
    line) as (name as sent, value without its surrounding blanks); None if one is not a plain
    line, one is over MAX_LINE, there are too many, a name of ``single`` repeats or a name of
    ``refused`` appears."""
    # Every line a token, a colon and a value of visible ASCII, spaces and tabs, in one pass:
    # a bare CR or LF inside a line, an obs-fold or a control byte fails it.
    if HEADER_LINES.fullmatch(data, start, end + 2) is None:
        return None
    text = data[start:end].decode("ascii")
    lines = text.split("\r\n") if text else []
    if len(lines) > MAX_HEADERS:
        return None
    if end - start > MAX_LINE and any(len(line) > MAX_LINE for line in lines):
        return None
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line in lines:
        name, _, value = line.partition(":")
        lower = name.lower()
        if lower in refused:
            return None
        if lower in single:
            if lower in seen:
                return None
            seen.add(lower)
        pairs.append((name, value.strip(" \t")))
    return pairs


def parse_head(
    data: bytes, *, max_body: int, max_head: int = MAX_HEAD
) -> RestHead | HandOff | None:
    """The head at the start of ``data``: a RestHead, HAND_OFF, or None while incomplete.

    A request line that cannot be taken is HAND_OFF as soon as it is in (or, before, as soon
    as its first bytes are no REST method), so that the HTTP server answers it without
    waiting for the rest of the head."""
    line_end = data.find(b"\r\n", 0, max_head)
    if line_end < 0:
        if len(data) >= max_head or not any(m.startswith(data[: len(m)]) for m in _STARTS):
            return HAND_OFF
        return None
    parts = data[:line_end].split(b" ")
    if (
        line_end > MAX_LINE
        or len(parts) != 3
        or parts[2] != b"HTTP/1.1"
        or parts[0] not in METHODS
        or _TARGET.fullmatch(parts[1]) is None
    ):
        return HAND_OFF
    end = data.find(b"\r\n\r\n", line_end, max_head)
    if end < 0:
        return HAND_OFF if len(data) >= max_head else None
    pairs = header_pairs(data, line_end + 2, end, single=_SINGLE, refused=_REFUSED)
    if pairs is None:
        return HAND_OFF
    headers = CIMultiDictProxy(CIMultiDict(pairs))
    if not headers.get("Host") or not headers.get("Authorization", "").startswith(_SIGNED):
        return HAND_OFF
    connection = headers.get("Connection")
    if connection is not None and connection.lower() != "keep-alive":
        return HAND_OFF
    declared = headers.get("Content-Length")
    length = 0
    if declared is not None:
        if _DIGITS.fullmatch(declared) is None:
            return HAND_OFF
        length = int(declared)
        if length > max_body:
            return HAND_OFF  # refused there, in the modeled words and the request's protocol
    return RestHead(
        method=parts[0].decode("ascii"),
        raw_path=parts[1].decode("ascii"),
        pairs=tuple(pairs),
        headers=headers,
        content_length=length,
        size=end + 4,
    )


def encode_response(
    status: int,
    reason: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    date: str,
    server: str,
    close: bool,
) -> bytes:
    """The answer's bytes: the status line, ``headers`` (without Content-Length, Date, Server
    or Connection, which this adds), the blank line and ``body``. A 204 or 304 has neither a
    body nor a Content-Length (RFC 9110 §8.6), as aiohttp answers them."""
    lines = [f"HTTP/1.1 {status} {reason}\r\n"]
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            # A value from the request could otherwise end the head early (aiohttp refuses
            # such a header the same way).
            raise ValueError(f"a line break in the answer's header {name[:64]!r}")
        lines.append(f"{name}: {value}\r\n")
    bodiless = status in _BODILESS
    if not bodiless:
        lines.append(f"Content-Length: {len(body)}\r\n")
    lines.append(
        f"Date: {date}\r\nServer: {server}\r\n" + ("Connection: close\r\n\r\n" if close else "\r\n")
    )
    head = "".join(lines).encode()
    return head if bodiless else head + body
