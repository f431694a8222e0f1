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
from dataclasses import dataclass
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from bellwire.gateway import handshake
from bellwire.http1 import AIOHTTP_SINGLETONS, HAND_OFF, MAX_HEAD, MAX_LINE, HandOff, header_pairs

_PREFIX: Final = b"GET /connect"
_TARGET = re.compile(rb"/connect(?:\?[\x21-\x7e]*)?")
# Headers that must appear once for the request to mean one thing.
_SINGLE: Final = AIOHTTP_SINGLETONS | {
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "origin",
    "authorization",
}
# A request with a body, or a framing question, is aiohttp's to answer.
_BODY: Final = frozenset({"content-length", "transfer-encoding"})


@dataclass(slots=True)  # not frozen: made per request, and frozen costs its __init__
class ConnectHead:
    """What the gateway reads of a ``/connect`` request (a view of aiohttp's request too)."""

    method: str
    raw_path: str
    host: str
    headers: CIMultiDictProxy[str]
    remote: str | None
    secure: bool


@dataclass(slots=True)  # not frozen: made per request, and frozen costs its __init__
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
) -> Parsed | HandOff | None:
    """The head at the start of ``data``: Parsed, HAND_OFF, or None while incomplete."""
    if not could_be_connect(data):
        return HAND_OFF
    end = data.find(b"\r\n\r\n", 0, max_head)
    if end < 0:
        return HAND_OFF if len(data) >= max_head else None
    line_end = data.find(b"\r\n", 0, end + 2)
    parts = data[:line_end].split(b" ")
    if (
        line_end > MAX_LINE
        or len(parts) != 3
        or parts[2] != b"HTTP/1.1"
        or _TARGET.fullmatch(parts[1]) is None
    ):
        return HAND_OFF
    pairs = header_pairs(data, line_end + 2, end, single=_SINGLE, refused=_BODY)
    if pairs is None:
        return HAND_OFF
    headers = CIMultiDict(pairs)
    host = headers.get("Host")
    if not host:
        return HAND_OFF
    try:
        accept = handshake.check_upgrade("GET", headers)
    except handshake.HandshakeError:
        return HAND_OFF  # the HTTP server answers it (400) as before
    head = ConnectHead(
        method="GET",
        raw_path=parts[1].decode("ascii"),
        host=host,
        headers=CIMultiDictProxy(headers),
        remote=remote,
        secure=secure,
    )
    return Parsed(head, accept, end + 4)
