"""Frames of a burst share one socket write (``session_flush_interval_seconds``), without
changing what a client sees: the order of its events, the close frame after them, and the 1013
of a session whose queued bytes pass its bound. Real server, real sockets, boto3 for the sends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from server_process import scraped
from ws_helpers import (
    TIMEOUT,
    RawSocket,
    World,
    close_code_of,
    connect_url,
    eventually,
    hub_sessions,
    off,
    parse_frames,
)

from bellwire.testing import RunningServer

Factory = Callable[..., RunningServer]


async def established(running: RunningServer, user_arn: str, **options: Any) -> RawSocket:
    raw = await off(RawSocket.open, connect_url(running, user_arn), **options)
    raw.sock.settimeout(TIMEOUT)
    frames, raw.leftover = parse_frames(raw.leftover)
    while not frames:
        frames, raw.leftover = parse_frames(raw.leftover + await off(raw.sock.recv, 65536))
    assert frames[0][0] == 0x1 and b"SESSION_ESTABLISHED" in frames[0][1], frames
    return raw


def messages(frames: list[tuple[int, bytes]]) -> list[str]:
    out = []
    for opcode, payload in frames:
        if opcode == 0x1:
            event = json.loads(payload)
            if event["Headers"]["x-amz-chime-event-type"] == "CREATE_CHANNEL_MESSAGE":
                out.append(json.loads(event["Payload"])["Content"])
    return out


def read_messages(raw: RawSocket, count: int) -> list[tuple[int, bytes]]:
    """Frames until ``count`` messages have arrived (or a close frame)."""
    frames: list[tuple[int, bytes]] = []
    data = raw.leftover
    deadline = time.monotonic() + TIMEOUT
    while len(messages(frames)) < count and time.monotonic() < deadline:
        if not any(op == 0x8 for op, _ in frames):
            data += raw.sock.recv(65536)
        parsed, data = parse_frames(data)
        frames += parsed
        if any(op == 0x8 for op, _ in parsed):
            break
    raw.leftover = data
    return frames


async def test_a_burst_reaches_every_member_in_order_in_fewer_writes(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory(session_flush_interval_seconds=1.0)
    world = World.create(running)
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob, carol])
    readers = [await established(running, user) for user in (bob, carol)]
    try:
        await eventually(lambda: hub_sessions(running, carol) == 1)
        writes = scraped(running, "bellwire_session_writes_total")
        deliveries = scraped(running, "bellwire_deliveries_total")
        texts = [f"burst {i}" for i in range(6)]
        started = time.monotonic()
        for text in texts:
            await off(world.send, channel, alice, text)
        # With a margin: the last event may reach the hub just after its answer.
        sent_within_the_interval = time.monotonic() - started < 0.8
        for raw in readers:
            assert messages(await off(read_messages, raw, len(texts))) == texts
        delivered = scraped(running, "bellwire_deliveries_total") - deliveries
        written = scraped(running, "bellwire_session_writes_total") - writes
        assert delivered == 2 * len(texts)
        # Each session's frames of the burst leave in one write; two if the hub had been quiet
        # long enough for the first message to leave at once (more if the burst outlasted
        # the interval).
        assert written in (2, 4) or (not sent_within_the_interval and written < delivered)
    finally:
        for raw in readers:
            raw.close()


async def test_frames_queued_before_a_close_arrive_before_the_close_frame(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory(session_flush_interval_seconds=5.0)
    world = World.create(running)
    alice, bob = world.user(), world.user()
    channel = world.channel(alice, [bob])
    raw = await established(running, bob)
    try:
        await eventually(lambda: hub_sessions(running, bob) == 1)
        texts = ["first", "second", "third"]
        for text in texts:
            await off(world.send, channel, alice, text)
        started = time.monotonic()
        await off(world.delete_user, bob)  # closes bob's sessions with 4003
        frames = await off(raw.read_frames, TIMEOUT)
        assert time.monotonic() - started < 5.0  # the close did not wait for the interval
        assert messages(frames) == texts
        assert frames[-1][0] == 0x8 and close_code_of(frames) == 4003
    finally:
        raw.close()


async def test_queued_bytes_count_toward_the_1013_bound(
    bellwire_server_factory: Factory,
) -> None:
    """With a long flush interval, nothing reaches the socket while the burst is queued: the
    queued frames alone pass ``session_buffer_bytes``, and the session is closed with 1013,
    without the frames (a session that fell behind gets nothing more); the other member,
    within its bound, gets them all."""
    running = bellwire_server_factory(
        session_flush_interval_seconds=5.0, session_buffer_bytes=16 * 1024
    )
    world = World.create(running)
    alice, bob, carol = world.user(), world.user(), world.user()
    channel = world.channel(alice, [bob, carol])
    raw = await established(running, bob)
    try:
        await eventually(lambda: hub_sessions(running, bob) == 1)
        started = time.monotonic()
        for i in range(6):
            await off(world.send, channel, alice, f"{i}:" + "x" * 3000)
        await eventually(lambda: hub_sessions(running, bob) == 0)
        assert time.monotonic() - started < 5.0
        frames = await off(raw.read_frames, TIMEOUT)
        assert close_code_of(frames) == 1013
        assert messages(frames) == []
    finally:
        raw.close()
