"""The server side of the WebSocket opening handshake (RFC 6455 §4.2), pure.

The gateway answers the upgrade itself, so that after the 101 the connection belongs to its own
protocol object and nothing of the HTTP server stays alive for it. The refusals keep the statuses
aiohttp gave them (405 for another method, 400 for a request that is not a version-13 upgrade),
so a client that is not a WebSocket sees the same answer as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# 13 is RFC 6455; 7 and 8 (late drafts, same framing) were accepted by aiohttp before and still are.
_VERSIONS = frozenset({"13", "8", "7"})


class HandshakeError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def check_upgrade(method: str, headers: Mapping[str, str]) -> str:
    """The ``Sec-WebSocket-Accept`` value for a valid upgrade request, else HandshakeError."""
    if method != "GET":
        raise HandshakeError(405, f"Method {method} not allowed: a WebSocket upgrade is a GET.")
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        raise HandshakeError(400, "No WebSocket UPGRADE hdr: a WebSocket upgrade was expected.")
    tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    if "upgrade" not in tokens:
        raise HandshakeError(400, "No CONNECTION upgrade hdr: a WebSocket upgrade was expected.")
    if headers.get("Sec-WebSocket-Version", "").strip() not in _VERSIONS:
        raise HandshakeError(400, "Unsupported Sec-WebSocket-Version: 13 is required.")
    key = headers.get("Sec-WebSocket-Key", "").strip()
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            raise ValueError(key)
    except (binascii.Error, ValueError):
        raise HandshakeError(400, "Handshake error: invalid Sec-WebSocket-Key.") from None
    return accept_key(key)


def switching_protocols(accept: str) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
    )
