"""Client-to-server WebSocket frames: parsing and the rules a server must enforce (RFC 6455).

Pure: bytes in, frames out, no I/O. A server only ever receives masked frames and sends unmasked
ones, so this is all the codec the gateway needs on the way in (the way out is
:mod:`bellwire.gateway.frames`). Every violation is a :class:`ProtocolError` carrying the close
code the server answers with:

- 1002 (protocol error): an unmasked frame (§5.1), reserved bits without a negotiated extension
  (§5.2), an unknown opcode (§5.2), a fragmented control frame or one over 125 bytes (§5.5), a
  continuation with no message to continue or a new message inside a fragmented one (§5.4), a
  one-byte close payload or a close code that may not be sent on the wire (§7.4);
- 1007 (invalid data): a text message or a close reason that is not UTF-8 (§8.1);
- 1009 (message too big): a message over the configured size, refused from its header, before
  its payload is buffered.
"""

from __future__ import annotations

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = frozenset({TEXT, BINARY})
_CONTROL = frozenset({CLOSE, PING, PONG})

PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = 1002, 1007, 1009
NO_STATUS = 1005  # a close frame without a code, as reported to the application (§7.1.5)


class ProtocolError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def close_code_allowed(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (§7.4.1, §7.4.2 and the IANA
    registry): 1004-1006 and 1015 are reserved for reporting, never sent; 1016-2999 are
    unassigned; 3000-4999 belong to libraries and applications."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def unmask(key: bytes, data: bytes) -> bytes:
    size = len(data)
    if not size:
        return b""
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        size, "little"
    )


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a client's close frame (1005 when it carries no code)."""
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "A close frame with a one-byte payload.")
    code = int.from_bytes(payload[:2], "big")
    if not close_code_allowed(code):
        raise ProtocolError(PROTOCOL_ERROR, f"Close code {code} is not allowed on the wire.")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(INVALID_DATA, "The close reason is not valid UTF-8.") from None
    return code, reason


def close_frame(code: int, reason: bytes = b"") -> bytes:
    """A server's close frame (unmasked); ``reason`` must fit a control frame with the code."""
    payload = code.to_bytes(2, "big") + reason[:123]
    return bytes((0x88, len(payload))) + payload


def pong_frame(payload: bytes) -> bytes:
    return bytes((0x8A, len(payload))) + payload


class ClientFrames:
    """An incremental parser of one connection's client frames.

    :meth:`feed` returns the complete frames the bytes finish, as ``(opcode, payload)``:
    control frames as they come, data messages once whole (fragments joined, text checked for
    UTF-8). After a :class:`ProtocolError` the parser must not be fed again.
    """

    __slots__ = ("_buffer", "_fragments", "_message_op", "_message_size", "max_message")

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._buffer = b""
        self._fragments: list[bytes] | None = None
        self._message_op = 0
        self._message_size = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        frames: list[tuple[int, bytes]] = []
        offset = 0
        end = len(buffer)
        while end - offset >= 2:
            first, second = buffer[offset], buffer[offset + 1]
            fin, opcode = first & 0x80, first & 0x0F
            if first & 0x70:
                raise ProtocolError(PROTOCOL_ERROR, "Reserved bits set without an extension.")
            if not second & 0x80:
                raise ProtocolError(PROTOCOL_ERROR, "Client frames must be masked.")
            size = second & 0x7F
            head = offset + 2
            if opcode in _CONTROL:
                if not fin:
                    raise ProtocolError(PROTOCOL_ERROR, "A fragmented control frame.")
                if size > 125:
                    raise ProtocolError(PROTOCOL_ERROR, "A control frame over 125 bytes.")
            elif opcode in _DATA:
                if self._fragments is not None:
                    raise ProtocolError(PROTOCOL_ERROR, "A new message inside a fragmented one.")
            elif opcode == CONTINUATION:
                if self._fragments is None:
                    raise ProtocolError(PROTOCOL_ERROR, "A continuation of no message.")
            else:
                raise ProtocolError(PROTOCOL_ERROR, f"Unknown opcode {opcode}.")
            if size == 126:
                if end - head < 2:
                    break
                size = int.from_bytes(buffer[head : head + 2], "big")
                head += 2
            elif size == 127:
                if end - head < 8:
                    break
                size = int.from_bytes(buffer[head : head + 8], "big")
                head += 8
            if opcode not in _CONTROL:
                total = size + (self._message_size if opcode == CONTINUATION else 0)
                if total > self.max_message:
                    raise ProtocolError(
                        TOO_BIG, f"A message over {self.max_message} bytes is not accepted."
                    )
            if end - head < 4 + size:
                break
            key = buffer[head : head + 4]
            payload = unmask(key, buffer[head + 4 : head + 4 + size])
            offset = head + 4 + size
            if opcode in _CONTROL:
                frames.append((opcode, payload))
                continue
            if opcode != CONTINUATION:
                self._message_op, self._message_size, self._fragments = opcode, 0, []
            assert self._fragments is not None
            self._fragments.append(payload)
            self._message_size += size
            if fin:
                parts, self._fragments = self._fragments, None
                message = parts[0] if len(parts) == 1 else b"".join(parts)
                if self._message_op == TEXT:
                    try:
                        message.decode()
                    except UnicodeDecodeError:
                        raise ProtocolError(
                            INVALID_DATA, "A text message that is not valid UTF-8."
                        ) from None
                frames.append((self._message_op, message))
        self._buffer = bytes(buffer[offset:]) if offset < end else b""
        return frames
