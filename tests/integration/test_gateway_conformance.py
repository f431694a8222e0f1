"""RFC 6455: what a server must refuse, and how the close handshake runs, over a real socket.

Each case sends one offending frame on an established session and expects the server's close
frame with the right code, then the connection's end, and the session gone from the hub.
"""

from __future__ import annotations

import gc
import struct
from collections.abc import Callable

import pytest
from ws_helpers import (
    TIMEOUT,
    RawSocket,
    World,
    close_code_of,
    connect_url,
    eventually,
    frame_bytes,
    hub_sessions,
    off,
    parse_frames,
)

from bellwire.connections import GuardedHandler
from bellwire.gateway.session_socket import SessionSocket
from bellwire.testing import RunningServer


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


REFUSED = {
    "unmasked text": (frame_bytes(0x1, b"not masked", mask=False), 1002),
    "unmasked ping": (frame_bytes(0x9, b"", mask=False), 1002),
    "rsv1": (bytes([0xC1]) + frame_bytes(0x1, b"x")[1:], 1002),
    "rsv2": (bytes([0xA1]) + frame_bytes(0x1, b"x")[1:], 1002),
    "rsv3": (bytes([0x91]) + frame_bytes(0x1, b"x")[1:], 1002),
    "opcode 3": (frame_bytes(0x3, b"reserved"), 1002),
    "opcode 7": (frame_bytes(0x7, b"reserved"), 1002),
    "opcode 11": (frame_bytes(0xB, b"reserved control"), 1002),
    "opcode 15": (frame_bytes(0xF, b""), 1002),
    "fragmented ping": (frame_bytes(0x9, b"p", fin=False), 1002),
    "fragmented close": (frame_bytes(0x8, close_payload(1000), fin=False), 1002),
    "ping over 125 bytes": (frame_bytes(0x9, b"p" * 126), 1002),
    "pong over 125 bytes": (frame_bytes(0xA, b"p" * 200), 1002),
    "close over 125 bytes": (frame_bytes(0x8, close_payload(1000, b"r" * 124)), 1002),
    "continuation of nothing": (frame_bytes(0x0, b"orphan"), 1002),
    "new message inside a fragmented one": (
        frame_bytes(0x1, b"first", fin=False) + frame_bytes(0x1, b"second"),
        1002,
    ),
    "text not utf-8": (frame_bytes(0x1, b"\xc3\x28"), 1007),
    "fragmented text not utf-8": (
        frame_bytes(0x1, b"ok \xe2\x82", fin=False) + frame_bytes(0x0, b"\x28"),
        1007,
    ),
    "close reason not utf-8": (frame_bytes(0x8, close_payload(1000, b"\xff\xfe")), 1007),
    "close with a one-byte payload": (frame_bytes(0x8, b"\x03"), 1002),
    **{
        f"close code {code}": (frame_bytes(0x8, close_payload(code)), 1002)
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
    },
    # max_client_frame_bytes is 4096 by default
    "message over the limit": (frame_bytes(0x2, b"b" * 4097), 1009),
    "fragments over the limit": (
        frame_bytes(0x1, b"t" * 3000, fin=False) + frame_bytes(0x0, b"t" * 1097),
        1009,
    ),
    "a 64-bit length over the limit": (b"\x82\xff" + (1 << 40).to_bytes(8, "big"), 1009),
}


async def established(running: RunningServer, user_arn: str) -> RawSocket:
    raw = await off(RawSocket.open, connect_url(running, user_arn))
    frames, raw.leftover = parse_frames(raw.leftover)
    while not frames:
        frames, raw.leftover = parse_frames(raw.leftover + await off(raw.sock.recv, 65536))
    assert frames[0][0] == 0x1 and b"SESSION_ESTABLISHED" in frames[0][1], frames
    raw.leftover = b""
    return raw


def read_until_closed(raw: RawSocket, answer: bool = True) -> tuple[list[tuple[int, bytes]], bool]:
    """Every frame until the server ends the TCP connection; and whether it did. ``answer``:
    reply to the server's close frame (False when the client closed first)."""
    raw.sock.settimeout(TIMEOUT)
    data = b""
    while True:
        try:
            chunk = raw.sock.recv(65536)
        except ConnectionResetError:
            # The server closed first and our close reply met a closed socket: ended all the
            # same, once its close frame was read.
            frames = parse_frames(data)[0]
            return frames, any(op == 0x8 for op, _ in frames)
        except TimeoutError:
            return parse_frames(data)[0], False
        if not chunk:
            return parse_frames(data)[0], True
        data += chunk
        frames, _ = parse_frames(data)
        if answer and any(op == 0x8 for op, _ in frames):
            answer = False
            # Answer the server's close: it must then end the connection.
            raw.sock.sendall(frame_bytes(0x8, b""))


@pytest.mark.parametrize("frames,code", REFUSED.values(), ids=REFUSED.keys())
async def test_a_frame_a_server_must_refuse_closes_with_its_code(
    server: RunningServer, frames: bytes, code: int
) -> None:
    world = World.create(server)
    bob = world.user()
    raw = await established(server, bob)
    try:
        raw.sock.sendall(frames)
        received, ended = await off(read_until_closed, raw)
        assert received and received[-1][0] == 0x8, received
        assert close_code_of(received) == code, received
        assert ended, "the server did not close the connection after the close handshake"
        await eventually(lambda: hub_sessions(server, bob) == 0, timeout=3)
    finally:
        raw.close()


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 1014, 3000, 4999])
async def test_a_clients_close_is_echoed_and_ends_the_session(
    server: RunningServer, code: int
) -> None:
    world = World.create(server)
    bob = world.user()
    raw = await established(server, bob)
    try:
        raw.sock.sendall(frame_bytes(0x8, close_payload(code, "bye ✓".encode())))
        received, ended = await off(read_until_closed, raw, False)
        assert received == [(0x8, close_payload(code))], received
        assert ended
        await eventually(lambda: hub_sessions(server, bob) == 0, timeout=3)
    finally:
        raw.close()


async def test_an_empty_close_is_answered_with_an_empty_close(server: RunningServer) -> None:
    world = World.create(server)
    raw = await established(server, world.user())
    try:
        raw.sock.sendall(frame_bytes(0x8, b""))
        received, ended = await off(read_until_closed, raw, False)
        assert received == [(0x8, b"")] and ended
    finally:
        raw.close()


async def test_pings_are_answered_with_their_payload_even_split_across_reads(
    server: RunningServer,
) -> None:
    world = World.create(server)
    raw = await established(server, world.user())
    try:
        ping = frame_bytes(0x9, b"are you there?")
        for byte in ping:  # one byte per segment: the parser must wait for the rest
            raw.sock.sendall(bytes([byte]))
            await off(lambda: None)
        raw.sock.sendall(frame_bytes(0x9, b"") + frame_bytes(0x9, b"x" * 125))
        raw.sock.settimeout(TIMEOUT)
        data = b""
        frames: list[tuple[int, bytes]] = []
        while len(frames) < 3:
            data += await off(raw.sock.recv, 65536)
            frames, _ = parse_frames(data)
        assert frames == [(0xA, b"are you there?"), (0xA, b""), (0xA, b"x" * 125)]
    finally:
        raw.close()


async def test_data_frames_are_accepted_in_every_legal_shape(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    """Text, binary, fragmented with control frames between the fragments, 16- and 64-bit
    lengths, empty: all ignored, and the session stays open."""
    server = bellwire_server_factory(max_client_frame_bytes=100_000)
    world = World.create(server)
    bob = world.user()
    raw = await established(server, bob)
    try:
        raw.sock.sendall(
            frame_bytes(0x1, "héllo".encode())
            + frame_bytes(0x2, b"\x00\xff")
            + frame_bytes(0x1, b"")
            + frame_bytes(0x1, b"a" * 300)
            + frame_bytes(0x2, b"b" * 65_536)
            # "frag mént €", é and € split across fragments
            + frame_bytes(0x1, b"frag m\xc3", fin=False)
            + frame_bytes(0x9, b"between")
            + frame_bytes(0x0, b"\xa9nt \xe2", fin=False)
            + frame_bytes(0x0, b"\x82\xac")
        )
        raw.sock.settimeout(TIMEOUT)
        data = b""
        frames: list[tuple[int, bytes]] = []
        while not frames:
            data += await off(raw.sock.recv, 65536)
            frames, _ = parse_frames(data)
        assert frames == [(0xA, b"between")]
        assert hub_sessions(server, bob) == 1
    finally:
        raw.close()


async def test_no_aiohttp_object_stays_alive_for_an_open_session(server: RunningServer) -> None:
    """After the upgrade the connection belongs to a SessionSocket alone: aiohttp's request
    handler is gone from the server's connections and from memory."""
    world = World.create(server)
    bob = world.user()

    async def census() -> tuple[int, int]:
        gc.collect()
        objects = gc.get_objects()
        handlers = sum(1 for o in objects if isinstance(o, GuardedHandler))
        sockets = sum(1 for o in objects if isinstance(o, SessionSocket) and not o.lost)
        return handlers, sockets

    handlers_before, sockets_before = server.run(census())
    raws = [await established(server, bob) for _ in range(10)]
    try:
        handlers, sockets = server.run(census())
        assert sockets - sockets_before == 10
        # REST connections may come and go meanwhile; ten sessions must not leave ten handlers.
        assert handlers - handlers_before <= 2, (handlers_before, handlers)
    finally:
        for raw in raws:
            raw.close()


async def test_a_refused_connect_stays_on_the_unauthenticated_list_until_it_ends(
    server: RunningServer,
) -> None:
    """The upgrade is completed before a refusal: the refused socket is the gateway's from
    then on, and it keeps the HTTP connection's place on the list that the cap on
    unauthenticated connections counts, until its close handshake ends."""
    world = World.create(server)
    url = connect_url(server, world.user()).replace("X-Amz-Signature=", "X-Amz-Signature=0")

    async def pending() -> list[str]:
        guard = server.server.guard
        assert guard is not None
        return [type(c).__name__ for c in guard.admission._pending]

    raw = await off(RawSocket.open, url)
    try:
        raw.sock.settimeout(TIMEOUT)
        data = raw.leftover
        while not parse_frames(data)[0]:
            data += await off(raw.sock.recv, 65536)
        assert close_code_of(parse_frames(data)[0]) == 4401
        assert "SessionSocket" in server.run(pending())
        raw.sock.sendall(frame_bytes(0x8, b""))
        assert await off(raw.sock.recv, 65536) == b""
        await eventually(lambda: "SessionSocket" not in server.run(pending()), timeout=3)
    finally:
        raw.close()
