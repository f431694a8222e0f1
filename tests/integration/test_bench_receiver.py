"""The benchmark's receivers (bench/receivers.py): the C receiver builds, connects to a real
bellwire with presigned URLs, and reports exactly the deliveries of a burst, as the Python
receiver does; a raw server drives the C receiver's frame parser through split reads, pings,
masked frames and refusals; bad commands are answered and skipped."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from ws_helpers import World, connect_url, off

from bellwire.testing import RunningServer
from bench import receivers
from bench.wsclient import COUNT, SAMPLE, Totals, stamp

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


@needs_gcc
def test_the_receiver_builds_and_is_rebuilt_when_its_source_is_newer() -> None:
    binary = receivers.build(force=True)
    assert binary == receivers.BINARY and os.access(binary, os.X_OK)
    assert not receivers.stale()
    old = receivers.SOURCE.stat().st_mtime - 10
    os.utime(binary, (old, old))  # older than receiver.c now
    assert receivers.stale()
    receivers.build()
    assert not receivers.stale()
    assert receivers.resolve("auto") == "c"
    with pytest.raises(ValueError):
        receivers.resolve("java")


@pytest.mark.parametrize("kind", ["c", "python"])
async def test_a_burst_reaches_every_session_and_is_reported_exactly(
    kind: str, bellwire_server: RunningServer
) -> None:
    if kind == "c" and shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    sessions, burst = 40, 25
    world = World.create(bellwire_server, "receiver")
    users = [world.user() for _ in range(sessions)]
    channel = world.channel(users[0], users[1:10])
    for start in range(10, sessions, 10):
        await off(
            world.messaging.batch_create_channel_membership,
            ChannelArn=channel,
            MemberArns=users[start : start + 10],
            Type="DEFAULT",
            ChimeBearer=users[0],
        )
    paths = [path_of(connect_url(bellwire_server, u)) for u in users]
    totals = Totals()
    sampled = {0, 7}  # sockets that report each message's latency
    subs = await receivers.subscribe(
        kind,
        bellwire_server.port,
        paths,
        totals,
        lambda i: SAMPLE if i in sampled else COUNT,
        host_header=bellwire_server.endpoint_host,
        concurrency=8,
        timeout=30.0,
    )
    try:
        assert subs.count == sessions
        # SESSION_ESTABLISHED carries no marker: nothing counted before the burst.
        await subs.settle()
        assert totals.delivered == 0
        for k in range(burst):
            await off(world.send, channel, users[k % sessions], f"{stamp()} burst {k}")
        assert await wait_for(lambda: totals.delivered >= sessions * burst)
        await asyncio.sleep(0.3)
        await subs.settle()
        assert totals.delivered == sessions * burst
        assert len(totals.latencies_ns) == len(sampled) * burst
        assert all(0 < ns < 30 * 10**9 for ns in totals.latencies_ns)
        assert totals.bytes > sessions * burst * 100
        assert subs.dropped() == 0
    finally:
        await subs.close()


async def test_the_c_receiver_reports_a_refused_upgrade_as_a_failure(
    bellwire_server: RunningServer,
) -> None:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    world = World.create(bellwire_server, "receiver")
    user = world.user()
    good = path_of(connect_url(bellwire_server, user))
    with pytest.raises(receivers.ReceiverError, match="1 of 2 connections failed"):
        await receivers.subscribe(
            "c",
            bellwire_server.port,
            [good, "/no-such-path"],
            Totals(),
            lambda _i: COUNT,
            host_header=bellwire_server.endpoint_host,
            timeout=20.0,
        )


# --- against a raw server: the frame parser -----------------------------------------------------


def frame(opcode: int, payload: bytes, *, masked: bool = False) -> bytes:
    size = len(payload)
    first = bytes((0x80 | opcode,))
    mask = 0x80 if masked else 0
    if size < 126:
        head = first + bytes((mask | size,))
    elif size < 1 << 16:
        head = first + bytes((mask | 126,)) + size.to_bytes(2, "big")
    else:
        head = first + bytes((mask | 127,)) + size.to_bytes(8, "big")
    return head + (b"\x00\x00\x00\x00" if masked else b"") + payload


UPGRADE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: x\r\n\r\n"
)


@asynccontextmanager
async def raw_server(
    behaviour: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            await behaviour(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def start_receiver() -> receivers.CSubscribers:
    return await receivers.start_c(Totals())


@needs_gcc
async def test_frames_split_byte_by_byte_are_counted_once_and_pings_answered() -> None:
    pongs: list[bytes] = []
    messages = [f'{{"Content":"{stamp()}"}}'.encode(), b"x" * 300 + stamp().encode() * 2]
    # A 101 with the first frame in the same packet, then every byte in its own write.
    stream = (
        frame(0x1, messages[0])
        + frame(0x9, b"hi")
        + frame(0x2, messages[1])
        + frame(0x1, b"no marker")
        + frame(0x8, (1001).to_bytes(2, "big"))
    )

    async def behaviour(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(UPGRADE + stream[:1])
        for i in range(1, len(stream)):
            writer.write(stream[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0.001)
        pongs.append(await asyncio.wait_for(reader.readexactly(8), 10.0))
        await asyncio.wait_for(reader.readexactly(8), 10.0)  # the close frame's answer

    async with raw_server(behaviour) as port:
        subs = await start_receiver()
        try:
            await subs.connect(port, ["/"], lambda _i: SAMPLE, "h", None, 10, 10.0)
            assert await wait_for(lambda: subs.dropped() == 1)
            await subs.settle()
            assert subs.totals.delivered == 3  # one marker, then two in one frame
            assert subs.frames == 3  # data frames
            assert subs.totals.bytes == len(stream)
            assert len(subs.totals.latencies_ns) == 3
            assert subs.totals.close_codes == {1001: 1}
            assert pongs == [b"\x8a\x82\x00\x00\x00\x00hi"]  # masked, zero key
        finally:
            await subs.close()


@pytest.mark.parametrize(
    "bad",
    [
        frame(0x1, b"masked " + stamp().encode(), masked=True),  # RFC 6455 5.1
        b"\x82\x7f" + (2 << 20).to_bytes(8, "big"),  # 2 MiB: above the receiver's limit
    ],
    ids=["masked", "oversized"],
)
@needs_gcc
async def test_a_bad_server_frame_ends_that_connection_only(bad: bytes) -> None:
    async def behaviour(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(UPGRADE + bad)
        await writer.drain()
        await asyncio.sleep(5)

    async def good(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(UPGRADE + frame(0x1, stamp().encode()))
        await writer.drain()
        await asyncio.sleep(5)

    async with raw_server(behaviour) as bad_port, raw_server(good) as good_port:
        subs = await start_receiver()
        try:
            await subs.connect(bad_port, ["/"], lambda _i: COUNT, "h", None, 10, 10.0)
            assert await wait_for(lambda: subs.dropped() == 1)
            assert subs.totals.close_codes == {1006: 1}
            await subs.connect(good_port, ["/"], lambda _i: COUNT, "h", None, 10, 10.0)
            assert await wait_for(lambda: subs.totals.delivered == 1)
            assert subs.dropped() == 1
        finally:
            await subs.close()


@needs_gcc
def test_bad_commands_are_answered_and_skipped() -> None:
    binary = receivers.build()
    closed = closed_port()
    commands = [
        "x",
        "c 1 0 0 - /",  # port 0
        "c 1 2 80 - /",  # mode 2
        "c 1 0 80 - no-slash",
        "c 1 0 80 - / extra",
        "c one 0 80 - /",
        "k 0",
        "l -1",
        "h",
        "y" * 70_000,  # longer than a line may be
        f"c 5 0 {closed} - /",  # nothing listens there
        f"c 6 0 {closed} 10.0.0.999 /",  # not an address to bind
    ]
    proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None
        proc.stdin.write("\n".join(commands) + "\n")
        proc.stdin.flush()
        time.sleep(0.5)  # the connection attempts end
        out, _ = proc.communicate("r\nq\n", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = out.splitlines()
    errors = [line for line in lines if line.startswith("e ")]
    assert len(errors) == 10, lines
    assert "e line too long" in errors
    assert "f 5 connect-error" in lines
    assert "f 6 bind-error" in lines
    assert lines[-3:] == ["n 0 0 0", "r", "n 0 0 0"]


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@needs_gcc
async def test_connections_are_spread_over_receiver_processes() -> None:
    async def behaviour(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(UPGRADE + frame(0x1, stamp().encode()))
        await writer.drain()
        await asyncio.sleep(5)

    totals = Totals()
    async with raw_server(behaviour) as port:
        groups = await receivers.subscribe_spread(
            port, ["/"] * 5, totals, per_process=2, source_of=lambda i: f"127.0.0.{2 + i % 2}"
        )
        try:
            assert [g.count for g in groups] == [2, 2, 1]
            assert len({g.proc.pid for g in groups}) == 3
            assert await wait_for(lambda: totals.delivered == 5)
            for group in groups:
                await group.settle()
            assert totals.delivered == 5 and sum(g.frames for g in groups) == 5
        finally:
            for group in groups:
                await group.close()


def test_the_rss_of_a_process_tree_counts_its_children() -> None:
    from bench import procs

    child = subprocess.Popen(["sleep", "10"])
    try:
        assert child.pid in procs.descendants(os.getpid())
        assert procs.tree_rss_kib(os.getpid()) > procs.rss_kib(os.getpid())
    finally:
        child.kill()
        child.wait()
