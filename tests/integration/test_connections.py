"""Connections that never authenticate: idle and slow sockets, malformed heads, a draining server.

Each test drives a real server over loopback with raw sockets, boto3 or a WebSocket client.
The lock-out tests run the server as a subprocess with its own (low) file limit, as an operator's
default of 1,024 would be.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from server_process import ACCESS_KEY, REGION, SECRET_KEY, Process, free_port, start
from websockets.asyncio.client import connect
from ws_helpers import (
    RawSocket,
    World,
    closed_after,
    connect_url,
    eventually,
    hub_sessions,
    off,
    session,
)

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.events import EventType, decode
from bellwire.testing import RunningServer

Factory = Callable[..., RunningServer]
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


# --- helpers ---------------------------------------------------------------------------------


def _enough_files(count: int) -> None:
    """Raise this test process's own file limit so that it can hold ``count`` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"the hard file limit ({hard}) is below {count}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


@contextmanager
def _idle_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send nothing; all are closed on exit."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", port))
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


async def _established(url: str) -> None:
    async with connect(url, proxy=None, open_timeout=10, ping_interval=None) as ws:
        first = decode(await asyncio.wait_for(ws.recv(), 10))
        assert first.type == EventType.SESSION_ESTABLISHED, first


# --- 1,200 idle sockets ----------------------------------------------------------------------


async def test_idle_sockets_do_not_lock_out_boto3_or_a_new_session(
    tmp_path: Path, processes: list[Process]
) -> None:
    """With a 1,024-file hard limit, 1,200 sockets that send nothing used to take every
    descriptor (accept failing with EMFILE) until they left. The server raises its soft limit to
    the hard one and drops the oldest unauthenticated connection over its cap; the head timeout
    is left long here so that the cap alone has to hold."""
    _enough_files(1_200 + 200)
    running = start(
        tmp_path / "data",
        free_port(),
        "--max-unauthenticated-connections",
        "64",
        "--http-head-timeout-seconds",
        "120",
        log_level="info",
        file_limit=(256, 1024),
    )
    processes.append(running)
    identity = running.client("chime-sdk-identity")
    app = identity.create_app_instance(Name="flooded")["AppInstanceArn"]
    user = identity.create_app_instance_user(AppInstanceArn=app, AppInstanceUserId="u", Name="U")[
        "AppInstanceUserArn"
    ]

    with _idle_sockets(running.port, 1_200):
        began = time.monotonic()
        fresh = running.client("chime-sdk-identity")  # a new client: a new connection
        listed = await off(fresh.list_app_instances)
        assert app in [a["AppInstanceArn"] for a in listed["AppInstances"]]
        url = presign_connect_url(
            host=f"127.0.0.1:{running.port}",
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            session_token=None,
            region=REGION,
            params={"sessionId": "flood", "userArn": user},
            now=datetime.now(UTC),
            scheme="ws",
        )
        await _established(url)
        assert time.monotonic() - began < 10

    output = running.output()
    assert "file limit: 1024 open files (raised from 256)" in output, output
    limits = Path(f"/proc/{running.proc.pid}/limits").read_text()
    assert any(
        line.startswith("Max open files") and line.split()[3:5] == ["1024", "1024"]
        for line in limits.splitlines()
    ), limits
    assert "Traceback" not in output, output


async def test_resource_errors_are_rate_limited(tmp_path: Path, processes: list[Process]) -> None:
    """Out of descriptors, asyncio reports every failed accept() with a traceback, and retries:
    thousands of lines a second. The server writes one line per interval."""
    _enough_files(600)
    running = start(tmp_path / "data", free_port(), log_level="info", file_limit=(64, 64))
    processes.append(running)
    for _ in range(3):
        with _idle_sockets(running.port, 150):
            await asyncio.sleep(0.5)
    output = running.output()
    failures = [line for line in output.splitlines() if "out of system resource" in line]
    assert 1 <= len(failures) <= 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert running.proc.poll() is None
    assert (await off(running.client("chime-sdk-identity").list_app_instances))[
        "AppInstances"
    ] == []


# --- deadlines -------------------------------------------------------------------------------


def test_half_a_request_head_is_dropped_after_the_head_timeout(
    bellwire_server_factory: Factory,
) -> None:
    running = bellwire_server_factory(http_head_timeout_seconds=1)
    half = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    with _connect(running.port) as silent, _connect(running.port) as slow:
        slow.sendall(half)
        assert 0.5 < closed_after(slow, 8) < 4
        assert closed_after(silent, 8) < 4  # it sent nothing at all

    # On a keep-alive connection, the deadline runs from the first byte of the next head.
    with _connect(running.port) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        time.sleep(1.5)  # idle between requests: the keep-alive timeout's business
        kept.sendall(half)
        assert 0.5 < closed_after(kept, 8) < 4


def test_the_listener_keeps_the_configured_backlog(bellwire_server_factory: Factory) -> None:
    """asyncio listens again with create_server's backlog: it must be the setting's (a
    backlog of 128 overflowed under a storm of 256 connects, each waiting out a 1 s SYN retry)."""
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    running = bellwire_server_factory(listen_backlog=777)
    # For a listening socket, ss shows the backlog in the Send-Q column.
    out = subprocess.run(
        [ss, "-Hltn", f"sport = :{running.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[0] == "LISTEN" and out[2] == "777", out


def test_an_idle_keep_alive_connection_is_closed(bellwire_server_factory: Factory) -> None:
    running = bellwire_server_factory(http_keepalive_timeout_seconds=1)
    with _connect(running.port) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        assert closed_after(kept, 8) < 4


async def test_a_slow_connect_upgrade_is_dropped(
    bellwire_server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    running = bellwire_server_factory(
        connect_upgrade_timeout_seconds=1, http_head_timeout_seconds=30
    )
    world = await off(World.create, running)
    alice = await off(world.user)
    url = connect_url(running, alice)

    prompt = await off(RawSocket.open, url)  # the same head, sent at once, is upgraded
    prompt.close()

    path = url.split(running.endpoint_host, 1)[1]
    head = (
        f"GET {path} HTTP/1.1\r\nHost: {running.endpoint_host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with _connect(running.port) as slow:
        slow.sendall(head[:-2])
        await asyncio.sleep(1.5)
        slow.sendall(head[-2:])
        slow.settimeout(5)
        received = b""
        try:
            while chunk := slow.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
        assert not received.startswith(b"HTTP/1.1 101"), received
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]


# --- the cap ---------------------------------------------------------------------------------


async def test_authenticated_connections_are_never_dropped_for_the_cap(
    bellwire_server_factory: Factory, sign_for: Callable[..., dict[str, str]]
) -> None:
    """Over the cap the oldest *unauthenticated* connection goes: a keep-alive connection that
    made a signed request, and an established session, stay however many idle ones follow."""
    running = bellwire_server_factory(max_unauthenticated_connections=8)
    world = await off(World.create, running)
    alice, bob = await off(world.user), await off(world.user)
    channel = await off(world.channel, alice, [bob])
    established = await session(running, bob)
    kept = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)

    def list_app_instances() -> int:
        kept.request("GET", "/app-instances", headers=sign_for(running, "GET", "/app-instances"))
        response = kept.getresponse()
        response.read()
        return response.status

    try:
        assert await off(list_app_instances) == 200
        with _idle_sockets(running.port, 40) as idle:
            for sock in idle[:-8]:  # the 32 oldest idle ones are dropped
                assert await off(closed_after, sock, 5) < 5
            assert await off(list_app_instances) == 200  # on the same connection
            await off(world.send, channel, alice, "still here")
            event = await established.until(EventType.CREATE_CHANNEL_MESSAGE)
            assert event[-1].payload["Content"] == "still here"
    finally:
        kept.close()
        await established.close()


# --- the drain -------------------------------------------------------------------------------


async def _stalled_session(
    running: RunningServer, world: World, channel: str, sender: str, user: str
) -> RawSocket:
    """A session of ``user`` that stopped reading with more queued than the transport's
    high-water mark: its close frame cannot leave, and the drain waits for it (up to the close
    timeout, 5 s)."""
    raw = await off(RawSocket.open, connect_url(running, user), rcvbuf=4096)
    await eventually(lambda: hub_sessions(running, user) == 1)

    async def backlog() -> int:
        (session,) = running.server.hub.sessions_of(user)
        transport = session.transport
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return int(transport.get_write_buffer_size())

    while running.run(backlog()) < 128 * 1024:
        await off(world.send, channel, sender, "z" * 4000)
    return raw


async def test_requests_on_kept_alive_connections_are_refused_once_draining(
    bellwire_server_factory: Factory,
) -> None:
    """While the drain waits (here on a session whose close frame cannot leave), a new
    request on a connection that boto3 keeps alive gets 503 ServiceUnavailableException with
    ``Connection: close`` and writes nothing (botocore retries a 503 on a new connection)."""
    running = bellwire_server_factory()
    world = await off(World.create, running)
    alice, bob = await off(world.user), await off(world.user)
    channel = await off(world.channel, alice, [bob])
    messaging = running.client("chime-sdk-messaging", config=NO_RETRIES)
    stalled = await _stalled_session(running, world, channel, alice, bob)

    def send(content: str) -> Any:
        return messaging.send_channel_message(
            ChannelArn=channel,
            Content=content,
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=alice,
        )

    await off(send, "before the drain")  # opens the connection boto3 keeps in its pool
    stopping = threading.Thread(target=running.stop)
    stopping.start()
    try:
        deadline = time.monotonic() + 5
        while not running.server.draining and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert stopping.is_alive(), "the drain should still wait for the stalled session"
        with pytest.raises(ClientError) as caught:
            await off(send, "after the drain began")
        assert stopping.is_alive()
    finally:
        await off(stopping.join, 30)
        stalled.close()
    response = caught.value.response
    assert response["Error"]["Code"] == "ServiceUnavailableException", response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert response["ResponseMetadata"]["HTTPHeaders"].get("connection") == "close"

    restarted = bellwire_server_factory(data_dir=running.data_dir)
    listed = restarted.client("chime-sdk-messaging").list_channel_messages(
        ChannelArn=channel, ChimeBearer=alice
    )
    contents = [m["Content"] for m in listed["ChannelMessages"]]
    assert "before the drain" in contents
    assert "after the drain began" not in contents


# --- logs ------------------------------------------------------------------------------------


def test_a_malformed_request_is_one_line_at_info_and_a_modeled_400(
    bellwire_server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    running = bellwire_server_factory()
    caplog.set_level(logging.DEBUG)
    garbage = [
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n",
    ]
    for raw in garbage:
        with _connect(running.port) as sock:
            sock.sendall(raw)
            sock.settimeout(5)
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.0 400"), data
        assert b"x-amzn-ErrorType: BadRequestException" in head, head
        assert json.loads(body)["Message"].startswith("Malformed HTTP request")
    records = [r for r in caplog.records if r.name.startswith(("aiohttp", "bellwire"))]
    assert not [r for r in records if r.levelno >= logging.WARNING], [
        r.getMessage() for r in records
    ]
    assert not [r for r in records if r.exc_info], [r.getMessage() for r in records]
    lines = [r for r in records if "malformed HTTP request" in r.getMessage()]
    assert len(lines) == len(garbage), [r.getMessage() for r in records]
    assert all(r.levelno == logging.INFO and "\n" not in r.getMessage() for r in lines)


def test_a_timed_out_head_logs_nothing_above_debug(
    bellwire_server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    running = bellwire_server_factory(http_head_timeout_seconds=0.5)
    caplog.set_level(logging.DEBUG)
    with _connect(running.port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\n")
        closed_after(sock, 5)
    time.sleep(0.2)
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG and r.name != "bellwire"]
    assert not loud, [r.getMessage() for r in loud]


def test_a_broken_body_is_the_clients_mistake_not_a_500(
    bellwire_server_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A body cut short by a client that leaves used to answer 500 and log a traceback; a body
    whose framing breaks after the handler started reading it used to hang the connection for
    ever (aiohttp never ends such a body). Now: no ERROR line, and the body deadline ends it."""
    running = bellwire_server_factory(http_body_timeout_seconds=1)
    caplog.set_level(logging.INFO)
    head = (
        b"POST /channels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with _connect(running.port) as sock:
        sock.sendall(head + b"2\r\n{}\r\n")
        time.sleep(0.3)  # the handler is reading the body by now
        sock.sendall(b"zz\r\nnot a chunk\r\n0\r\n\r\n")
        assert closed_after(sock, 8) < 4

    with _connect(running.port) as sock:
        sock.sendall(b"POST /channels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.3)
    time.sleep(0.3)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not loud, [r.getMessage() for r in loud]


def test_a_slow_body_is_dropped_after_the_body_timeout(bellwire_server_factory: Factory) -> None:
    running = bellwire_server_factory(http_body_timeout_seconds=1)
    with _connect(running.port) as sock:
        sock.sendall(b"POST /channels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        assert 0.5 < closed_after(sock, 8) < 4


async def test_sessions_and_keep_alive_outlive_the_body_timeout(
    bellwire_server_factory: Factory,
) -> None:
    """The body deadline ends with the body: a session, and a keep-alive connection between
    requests, are not dropped by it."""
    running = bellwire_server_factory(http_body_timeout_seconds=0.5)
    world = await off(World.create, running)
    alice = await off(world.user)
    client = await session(running, alice)
    kept = _connect(running.port)
    try:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(1.5)
        assert not client.closed
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        kept.close()
        await client.close()
