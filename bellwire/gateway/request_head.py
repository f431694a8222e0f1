"""The request head of a ``/connect``, parsed without the HTTP server (pure).

The server's front protocol (``bellwire.front``) reads the first head of every connection. A
head this module takes is a plain WebSocket upgrade to ``/connect``; anything else (another
path or method, a body, an obsolete line fold, a bare LF, a repeated header that must be
single, a head over the bounds) is not taken, and the connection goes to aiohttp with the bytes
read so far, which answers exactly as it always did. So this parser only needs to be strict,
never complete: what it accepts, aiohttp would have accepted with the same meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from bellwire.gateway import handshake
from bellwire.http1 import HEADER_LINES, MAX_HEAD, MAX_HEADERS

_PREFIX: Final = b"GET /connect"
_TARGET = re.compile(rb"/connect(?:\?[\x21-\x7e]*)?")
# Headers that must appear once for the request to mean one thing.
_SINGLE: Final = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "origin",
        "authorization",
    }
)
# A request with a body, or a framing question, is aiohttp's to answer.
_BODY: Final = frozenset({"content-length", "transfer-encoding"})


class NotConnect:
    """The head is not one this parser takes: hand the connection to the HTTP server."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_CONNECT"


NOT_CONNECT: Final = NotConnect()


@dataclass(frozen=True, slots=True)
class ConnectHead:
    """What the gateway reads of a ``/connect`` request (a view of aiohttp's request too)."""

    method: str
    raw_path: str
    host: str
    headers: Mapping[str, str]
    raw_headers: Sequence[tuple[bytes, bytes]]
    remote: str | None
    secure: bool


@dataclass(frozen=True, slots=True)
class Parsed:
    head: ConnectHead
    accept: str  # the Sec-WebSocket-Accept value
    size: int  # bytes of the head; what follows belongs to the WebSocket


def could_be_connect(data: bytes) -> bool:
    """Whether the first bytes of a connection may still be a ``GET /connect`` head."""
    n = min(len(data), len(_PREFIX))
    return data[:n] == _PREFIX[:n]


def parse(
    data: bytes, *, remote: str | None, secure: bool, max_head: int = MAX_HEAD
) -> Parsed | NotConnect | None:
    """The head at the start of ``data``: Parsed, NOT_CONNECT, or None while incomplete."""
    if not could_be_connect(data):
        return NOT_CONNECT
    end = data.find(b"\r\n\r\n", 0, max_head)
    if end < 0:
        return NOT_CONNECT if len(data) >= max_head else None
    lines = data[:end].split(b"\r\n")
    if len(lines) - 1 > MAX_HEADERS:
        return NOT_CONNECT
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or _TARGET.fullmatch(parts[1]) is None:
        return NOT_CONNECT
    start = len(lines[0]) + 2
    # Every line a token, a colon and a value of visible ASCII, spaces and tabs, in one pass:
    # a bare CR or LF inside a line, an obs-fold or a control byte fails it.
    if HEADER_LINES.fullmatch(data, start, end + 2) is None:
        return NOT_CONNECT
    raw: list[tuple[bytes, bytes]] = []
    pairs: list[tuple[str, str]] = []
    single: set[str] = set()
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        value = value.strip(b" \t")
        key = name.decode("ascii")
        lower = key.lower()
        if lower in _SINGLE:
            if lower in single:
                return NOT_CONNECT
            single.add(lower)
        elif lower in _BODY:
            return NOT_CONNECT
        raw.append((name, value))
        pairs.append((key, value.decode("latin-1")))
    headers = CIMultiDict(pairs)
    host = headers.get("Host")
    if not host:
        return NOT_CONNECT
    try:
        accept = handshake.check_upgrade("GET", headers)
    except handshake.HandshakeError:
        return NOT_CONNECT  # the HTTP server answers it (400) as before
    head = ConnectHead(
        method="GET",
        raw_path=parts[1].decode("ascii"),
        host=host,
        headers=CIMultiDictProxy(headers),
        raw_headers=tuple(raw),
        remote=remote,
        secure=secure,
    )
    return Parsed(head, accept, end + 4)
