"""Server-to-client WebSocket frames, built once and written as bytes (RFC 6455 §5.2).

Server frames are never masked, so a frame is a 2-10 byte header plus the payload: the fan-out
encodes an event once and queues the same bytes to every recipient.
"""

from __future__ import annotations

from bellwire.events import Event

PING = b"\x89\x00"  # FIN + ping, empty payload


def text_frame(payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


def event_frame(event: Event) -> bytes:
    return text_frame(event.encode().encode())
