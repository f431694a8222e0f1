"""The listener's front (bellwire/front.py): a /connect head is read without aiohttp, and
whatever it does not take reaches aiohttp with the bytes already read, over a real socket."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from ws_helpers import TIMEOUT, World, connect_url, frame_bytes, off, parse_frames

from bellwire.testing import RunningServer

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def connect_head(running: RunningServer, url: str, *extra: str) -> bytes:
    path = url.split(running.endpoint_host, 1)[1]
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {running.endpoint_host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def opened(running: RunningServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head, and what came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def frames_until(sock: socket.socket, rest: bytes, want: int) -> list[tuple[int, bytes]]:
    frames, rest = parse_frames(rest)
    while len(frames) < want:
        chunk = sock.recv(65536)
        assert chunk, frames
        more, rest = parse_frames(rest + chunk)
        frames += more
    return frames


def established(frames: list[tuple[int, bytes]]) -> bool:
    return bool(frames) and frames[0][0] == 0x1 and b"SESSION_ESTABLISHED" in frames[0][1]


def assert_upgraded(sock: socket.socket) -> None:
    """The server answered 101 and then SESSION_ESTABLISHED."""
    status, rest = answer(sock)
    assert status.startswith(b"HTTP/1.1 101"), status
    assert established(frames_until(sock, rest, 1))


async def test_a_head_sent_byte_by_byte_with_a_ping_after_it_is_upgraded(
    server: RunningServer,
) -> None:
    world = await off(World.create, server)
    bob = await off(world.user)
    head = connect_head(server, connect_url(server, bob))
    with opened(server) as sock:
        for i in range(len(head) - 1):
            sock.sendall(head[i : i + 1])
            if i % 64 == 0:
                time.sleep(0.001)
        # The last byte of the head and a ping in one write: the ping reaches the session.
        sock.sendall(head[-1:] + frame_bytes(0x9, b"early"))
        status, rest = answer(sock)
        assert status.startswith(b"HTTP/1.1 101"), status
        frames = frames_until(sock, rest, 2)
        # The pong may leave first: the socket answers it while the session is set up.
        assert (0xA, b"early") in frames, frames
        assert established([f for f in frames if f[0] != 0xA]), frames


async def test_a_connect_after_a_request_on_a_kept_alive_connection_is_upgraded(
    server: RunningServer,
) -> None:
    world = await off(World.create, server)
    bob = await off(world.user)
    with opened(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, rest = answer(sock)
        assert status.startswith(b"HTTP/1.1 200"), status
        length = int(status.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(rest) < length:
            rest += sock.recv(4096)
        sock.sendall(connect_head(server, connect_url(server, bob)))
        assert_upgraded(sock)


async def test_a_connect_head_the_front_leaves_is_upgraded_by_the_http_server(
    server: RunningServer,
) -> None:
    """A header value outside ASCII is not the front's to decode: aiohttp gets the head, as
    read so far, and the gateway upgrades it there."""
    world = await off(World.create, server)
    bob = await off(world.user)
    head = connect_head(server, connect_url(server, bob), "X-Note: caf\xe9")
    with opened(server) as sock:
        sock.sendall(head[:40])
        time.sleep(0.05)
        sock.sendall(head[40:])
        assert_upgraded(sock)


async def test_a_malformed_connect_head_gets_the_http_servers_answer(
    server: RunningServer,
) -> None:
    world = await off(World.create, server)
    bob = await off(world.user)
    url = connect_url(server, bob)
    folded = connect_head(server, url, "X-Folded: a", " continued")
    not_an_upgrade = connect_head(server, url).replace(b"Upgrade: websocket\r\n", b"")
    for head in (folded, not_an_upgrade):
        with opened(server) as sock:
            sock.sendall(head)
            got, _ = answer(sock)
            assert got.split(b"\r\n")[0].split(b" ")[1] == b"400", got


async def test_a_connect_is_never_an_http_request(server: RunningServer) -> None:
    """aiohttp counts every request it handles: a /healthz adds one, five sessions none."""
    world = await off(World.create, server)
    bob = await off(world.user)
    http = server.server._http
    before = http.requests_count
    socks = []
    try:
        for _ in range(5):
            sock = opened(server)
            socks.append(sock)
            sock.sendall(connect_head(server, connect_url(server, bob)))
            assert_upgraded(sock)
        assert http.requests_count == before
        with opened(server) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert answer(sock)[0].startswith(b"HTTP/1.1 200")
        assert http.requests_count == before + 1
    finally:
        for sock in socks:
            sock.close()


def test_half_a_connect_head_is_dropped_after_the_head_timeout(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    """The front holds a /connect head until it is complete, under the same deadline."""
    running = bellwire_server_factory(http_head_timeout_seconds=1)
    url = connect_url(running, "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/b")
    with opened(running) as sock:
        sock.sendall(connect_head(running, url)[:-10])
        began = time.monotonic()
        sock.settimeout(8)
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
        assert 0.5 < time.monotonic() - began < 4
