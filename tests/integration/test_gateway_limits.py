"""Session limits and misbehaving peers: per-user session cap, sessionId replacement, slow
consumers (1013), client frames (ignored, 1009, 1002) and keepalive. Each test starts a server
with the settings it needs; the point of most tests is that one bad session never disturbs
another.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
import ws_helpers
from ws_helpers import (
    TIMEOUT,
    Client,
    RawSocket,
    Sessions,
    World,
    close_code_of,
    connect_url,
    contents,
    eventually,
    frame_bytes,
    hub_sessions,
    join_all,
    off,
    parse_frames,
)

from bellwire.events import EventType
from bellwire.testing import RunningServer, temporary_database

Factory = Callable[..., RunningServer]


@pytest.fixture
def start(bellwire_server_factory: Factory) -> Factory:
    def make(**settings: Any) -> RunningServer:
        settings.setdefault("connect_burst", 100)
        return bellwire_server_factory(**settings)

    return make


@pytest.fixture
async def opened() -> AsyncIterator[list[Sessions]]:
    """Every Sessions object a test makes is closed at the end."""
    made: list[Sessions] = []
    yield made
    for sessions in made:
        await sessions.close_all()


def sessions_on(running: RunningServer, opened: list[Sessions]) -> Sessions:
    sessions = Sessions(running)
    opened.append(sessions)
    return sessions


async def sentinel(world: World, channel: str, sender: str, *clients: Client) -> None:
    text = f"sentinel {asyncio.get_running_loop().time()}"
    await off(world.send, channel, sender, text)
    for client in clients:
        event = await client.next()
        assert event.payload is not None and event.payload.get("Content") == text, event


# --- sessions per user ---------------------------------------------------------------------------


async def test_over_the_session_limit_the_oldest_is_closed(
    start: Factory, opened: list[Sessions]
) -> None:
    running = start()  # max_sessions_per_user: the default, 10
    assert running.settings.max_sessions_per_user == 10
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    ws = sessions_on(running, opened)
    bobs = [await ws(bob) for _ in range(10)]
    assert await off(hub_sessions, running, bob) == 10
    newest = await ws(bob)
    assert await bobs[0].closed_with() == 4003
    assert "too many sessions" in (bobs[0].ws.close_reason or "")
    assert await off(hub_sessions, running, bob) == 10
    survivors = [*bobs[1:], newest]
    assert not any(c.closed for c in survivors)
    await sentinel(world, channel, alice, *survivors)
    # one more: now the second oldest goes
    await ws(bob)
    assert await bobs[1].closed_with() == 4003
    assert not any(c.closed for c in bobs[2:])


async def test_a_lower_session_limit(start: Factory, opened: list[Sessions]) -> None:
    running = start(max_sessions_per_user=2)
    world = World.create(running)
    alice = world.user()
    ws = sessions_on(running, opened)
    first, second = await ws(alice), await ws(alice)
    third = await ws(alice)
    assert await first.closed_with() == 4003
    assert not second.closed and not third.closed


async def test_same_session_id_replaces_the_old_session(
    start: Factory, opened: list[Sessions]
) -> None:
    running = start()
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    ws = sessions_on(running, opened)
    old = await ws(bob, session_id="1234")
    sibling = await ws(bob, session_id="5678")
    other_user = await ws(alice, session_id="1234")  # same id, another user: untouched
    new = await ws(bob, session_id="1234")
    assert await old.closed_with() == 4003
    assert "sessionId" in (old.ws.close_reason or "")
    assert not sibling.closed and not other_user.closed and not new.closed
    assert await off(hub_sessions, running, bob) == 2
    await sentinel(world, channel, alice, new, sibling, other_user)


# --- slow consumers ------------------------------------------------------------------------------


def _shrink_send_buffer(running: RunningServer, user_arn: str, size: int) -> Any:
    """Fix the kernel send buffer of the server side of a user's sessions (no autotuning), so
    that a peer that stops reading fills the session's bound after kilobytes, not megabytes."""

    async def shrink() -> list[Any]:
        sessions = running.server.hub.sessions_of(user_arn)
        for session in sessions:
            sock = session.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        return [session.transport for session in sessions]

    transports = running.run(shrink())
    assert len(transports) == 1
    return transports[0]


async def test_slow_consumer_is_closed_with_1013_and_others_keep_receiving(
    start: Factory, opened: list[Sessions]
) -> None:
    running = start(session_buffer_bytes=64 * 1024)
    world = World.create(running)
    alice, fast_user, slow_user = world.user(), world.user(), world.user()
    channel = world.channel(alice, [fast_user, slow_user])
    ws = sessions_on(running, opened)
    fast = await ws(fast_user)
    slow = await off(RawSocket.open, connect_url(running, slow_user), rcvbuf=4096)
    try:
        await eventually(lambda: hub_sessions(running, slow_user) == 1)
        _shrink_send_buffer(running, slow_user, 4096)

        texts: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()
        clients = [running.client("chime-sdk-messaging") for _ in range(3)]

        def pump(index: int) -> None:
            n = 0
            while not stop.is_set() and n < 200:
                with lock:  # the send order defines the channel order the fast one must see
                    text = f"{index}:{n}:" + "x" * 4000
                    clients[index].send_channel_message(
                        ChannelArn=channel,
                        ChimeBearer=alice,
                        Content=text,
                        Type="STANDARD",
                        Persistence="PERSISTENT",
                    )
                    texts.append(text)
                n += 1

        threads = [threading.Thread(target=pump, args=(i,)) for i in range(len(clients))]
        for thread in threads:
            thread.start()
        try:
            await eventually(lambda: hub_sessions(running, slow_user) == 0, timeout=30)
        finally:
            stop.set()
            await off(join_all, threads)
        sent = len(texts)
        assert sent < 200 * len(clients), "the slow consumer was never closed"

        # the fast member received every message, in order
        events = await fast.take(sent, timeout=20)
        assert contents(events) == texts
        assert not fast.closed
        # the slow one, once it reads again, finds the 1013 close after what fitted
        frames = await off(slow.read_frames, 10)
        assert close_code_of(frames) == 1013
        assert len(frames) < sent
    finally:
        slow.close()
    await sentinel(world, channel, alice, fast)


async def test_a_stalled_peer_does_not_hold_its_connection(
    start: Factory, opened: list[Sessions]
) -> None:
    """After a 1013 to a peer that never reads again, the close frame cannot leave and the
    close handshake would wait for ever: the server drops the connection after its close
    timeout (5 s) instead of holding the socket and its buffers."""
    running = start(session_buffer_bytes=256 * 1024)  # above the transport's high-water mark
    world = World.create(running)
    alice, slow_user = world.user(), world.user()
    channel = world.channel(alice, [slow_user])
    slow = await off(RawSocket.open, connect_url(running, slow_user), rcvbuf=4096)
    try:
        await eventually(lambda: hub_sessions(running, slow_user) == 1)
        transport = _shrink_send_buffer(running, slow_user, 4096)

        async def released() -> bool:  # the server's end of the socket is closed
            return bool(transport.get_extra_info("socket").fileno() == -1)

        for _ in range(200):
            await off(world.send, channel, alice, "y" * 4000)
            if hub_sessions(running, slow_user) == 0:
                break
        assert hub_sessions(running, slow_user) == 0
        assert not running.run(released())
        await eventually(lambda: running.run(released()), timeout=9, step=0.1)
    finally:
        slow.close()


# --- client frames -------------------------------------------------------------------------------


async def test_small_client_frames_are_ignored(start: Factory, opened: list[Sessions]) -> None:
    running = start()
    world = World.create(running)
    alice = world.user()
    channel = world.channel(alice)
    ws = sessions_on(running, opened)
    client = await ws(alice)
    await client.ws.send("hello server")
    await client.ws.send(b"\x00\x01\x02")
    await client.ws.send('{"Headers": {}, "Payload": null}')
    await client.ws.send(["frag", "mented"])
    await client.ws.ping(b"are you there")
    await sentinel(world, channel, alice, client)
    assert not client.closed


async def test_oversized_client_frame_closes_with_1009(
    start: Factory, opened: list[Sessions]
) -> None:
    running = start(max_client_frame_bytes=1024)
    world = World.create(running)
    alice = world.user()
    channel = world.channel(alice)
    ws = sessions_on(running, opened)
    bystander, offender = await ws(alice), await ws(alice)
    await offender.ws.send("x" * 1024)  # at the limit: fine
    await sentinel(world, channel, alice, bystander, offender)
    await offender.ws.send("x" * 1025)
    assert await offender.closed_with() == 1009
    await sentinel(world, channel, alice, bystander)
    assert await off(hub_sessions, running, alice) == 1


MALFORMED = {
    "opcode-3": frame_bytes(0x3, b"reserved opcode"),
    "opcode-11": frame_bytes(0xB, b"reserved control opcode"),
    "rsv1": bytes([0x80 | 0x40 | 0x1]) + frame_bytes(0x1, b"rsv1 without extension")[1:],
    "fragmented-control": frame_bytes(0x9, b"fragmented ping", fin=False),
    "orphan-continuation": frame_bytes(0x0, b"continuation of nothing"),
    "long-control": frame_bytes(0x9, b"p" * 126),
    "text-not-utf8": frame_bytes(0x1, b"\xc3\x28 invalid utf-8 text"),
    "unmasked": frame_bytes(0x1, b"not masked", mask=False),
}


async def _established_raw(running: RunningServer, user_arn: str) -> RawSocket:
    raw = await off(RawSocket.open, connect_url(running, user_arn))
    raw.sock.settimeout(TIMEOUT)
    frames, raw.leftover = parse_frames(raw.leftover)
    while not frames:
        frames, raw.leftover = parse_frames(raw.leftover + await off(raw.sock.recv, 65536))
    assert frames[0][0] == 0x1 and b"SESSION_ESTABLISHED" in frames[0][1], frames
    return raw


@pytest.mark.parametrize("garbage", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_frame_closes_with_1002_or_drops(
    start: Factory, opened: list[Sessions], garbage: bytes
) -> None:
    running = start()
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    ws = sessions_on(running, opened)
    bystander = await ws(alice)
    raw = await _established_raw(running, bob)
    try:
        raw.sock.sendall(garbage)
        frames = await off(raw.read_frames, 3)
        assert frames, "the server neither closed nor dropped the connection"
        assert frames[-1][0] == 0x8, frames
        assert close_code_of(frames) in (1002, 1007), frames
        await eventually(lambda: hub_sessions(running, bob) == 0, timeout=3)
    finally:
        raw.close()
    await sentinel(world, channel, alice, bystander)


async def test_no_data_frame_follows_the_servers_close_frame(
    start: Factory, opened: list[Sessions]
) -> None:
    """While the server waits for the close reply to its 1002, events of the session's
    channels keep coming: none may be written after the close frame (RFC 6455 5.5.1)."""
    running = start()
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    raw = await _established_raw(running, bob)
    try:
        raw.sock.sendall(frame_bytes(0x3, b"reserved opcode"))
        frames = await off(raw.read_frames, 5)
        assert close_code_of(frames) == 1002
        await off(world.send, channel, alice, "after the close")
        await asyncio.sleep(0.2)
        raw.sock.sendall(frame_bytes(0x8, b"\x03\xea"))  # our close reply
        rest = await off(raw.read_frames, 5)
        assert rest == [], f"frames after the close frame: {rest}"
    finally:
        raw.close()


# --- keepalive -----------------------------------------------------------------------------------


async def test_keepalive_keeps_answering_clients_and_drops_silent_ones(
    start: Factory, opened: list[Sessions]
) -> None:
    running = start(ping_interval_seconds=0.2, ping_timeout_seconds=0.2)
    world = World.create(running)
    alice, mute = world.user(), world.user()
    channel = world.channel(alice, [mute])
    ws = sessions_on(running, opened)
    polite = await ws(alice)  # websockets answers pings by itself
    raw = await off(RawSocket.open, connect_url(running, mute))
    try:
        await eventually(lambda: hub_sessions(running, mute) == 1)
        frames = await off(raw.read_frames, 5)  # returns when the server drops us
        opcodes = [op for op, _ in frames]
        assert 0x9 in opcodes, "the server never pinged"
        assert await off(hub_sessions, running, mute) == 0
        # the socket is really gone: reading gives EOF or a reset
        with contextlib.suppress(ConnectionResetError):
            assert raw.sock.recv(1) == b""
    finally:
        raw.close()
    await asyncio.sleep(1.0)  # five ping intervals
    assert not polite.closed
    assert await off(hub_sessions, running, alice) == 1
    await sentinel(world, channel, alice, polite)


async def test_a_connect_whose_snapshot_is_slow_outlives_the_sweeps_it_spans(
    start: Factory,
) -> None:
    """Keepalive sweeps that come while a connect's snapshot is still being read do not drop it.

    The snapshot is held back by a real lock on PostgreSQL's users table, taken after the user
    was made, for five ping intervals. A sweep used to ping the connecting session; the client's
    pong reached no session yet, and the next sweep dropped it (1006)."""
    with temporary_database() as url:
        running = start(store=url, ping_interval_seconds=0.2, ping_timeout_seconds=0.2)
        try:
            world = World.create(running)
            alice = world.user()
            with psycopg.connect(url) as locker:
                locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                connecting = asyncio.create_task(ws_helpers.session(running, alice))
                await eventually(lambda: hub_sessions(running, alice) == 1)  # past the upgrade
                await asyncio.sleep(1.0)
                assert not connecting.done(), "the connect ended while its snapshot was held back"
                locker.rollback()
            client = await asyncio.wait_for(connecting, TIMEOUT)
            await asyncio.sleep(1.0)  # five more intervals, established: pinged and answering
            assert not client.closed, f"closed with {client.close_code}"
            assert await off(hub_sessions, running, alice) == 1
            await client.close()
        finally:
            await off(running.stop)  # before its database is dropped


async def test_a_client_answering_pings_by_hand_stays(start: Factory) -> None:
    running = start(ping_interval_seconds=0.2, ping_timeout_seconds=0.2)
    world = World.create(running)
    alice = world.user()
    raw = await off(RawSocket.open, connect_url(running, alice))
    try:
        raw.sock.settimeout(0.1)
        deadline = asyncio.get_running_loop().time() + 1.5
        pings = 0
        buffer = raw.leftover
        while asyncio.get_running_loop().time() < deadline:
            try:
                chunk = await off(raw.sock.recv, 65536)
            except TimeoutError:
                continue
            assert chunk, "the server dropped a client that answers its pings"
            frames, buffer = parse_frames(buffer + chunk)
            for opcode, payload in frames:
                if opcode == 0x9:
                    pings += 1
                    raw.sock.sendall(frame_bytes(0xA, payload))
        assert pings >= 3
        assert await off(hub_sessions, running, alice) == 1
    finally:
        raw.close()


async def test_pings_do_not_reach_the_application(start: Factory, opened: list[Sessions]) -> None:
    """Keepalive is RFC 6455 control frames: no event frames appear because of it."""
    running = start(ping_interval_seconds=0.1, ping_timeout_seconds=0.5)
    world = World.create(running)
    alice = world.user()
    ws = sessions_on(running, opened)
    client = await ws(alice)
    await client.quiet(0.6)
    assert [e.type for e in client.events] == [EventType.SESSION_ESTABLISHED]
