"""Several ``bellwire serve`` processes sharing one PostgreSQL database and one Redis, on loopback.

Redis is a ``redis-server`` of the test's own, on a free port and without persistence, so that
a test can kill and restart it (the machine's shared Redis is never touched); PostgreSQL is a
database created with a random name and dropped afterwards (``bellwire.testing``).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import server_process
from server_process import ACCESS_KEY, REGION, SECRET_KEY, Process, TlsFiles
from ws_helpers import World

from bellwire.client import (
    CaughtUp,
    Established,
    Gap,
    MessagingSession,
    ReconnectPolicy,
    SessionEvent,
)
from bellwire.testing import temporary_database


class RedisServer:
    """A private redis-server: started, killed with SIGKILL, restarted on the same port."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.port = server_process.free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return
            time.sleep(0.02)
        raise AssertionError("redis-server did not start")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@dataclass
class Node:
    """One bellwire process; also what ``ws_helpers.connect_url`` needs to sign a connect."""

    process: Process
    data_dir: Path
    access_key_id: str = ACCESS_KEY
    secret_access_key: str = SECRET_KEY
    region: str = REGION

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def endpoint_host(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    def client(self, service: str, **kwargs: object) -> object:
        return self.process.client(service, **kwargs)

    def catching_up(self, user_arn: str, retry_after: float) -> MessagingSession:
        """A Python client of ``user_arn`` on this node that catches up after a reconnect, and
        waits ``retry_after`` seconds before each retry, so a test can send while it is away."""
        credentials = botocore.session.Session()
        credentials.set_credentials(self.access_key_id, self.secret_access_key)
        return MessagingSession(
            user_arn,
            boto_session=credentials,
            region=self.region,
            endpoint_url=self.url,
            policy=ReconnectPolicy(base=0.01, cap=0.01, fixed=retry_after, window=20.0),
            catch_up=True,
        )

    def kill(self) -> None:
        if self.process.proc.poll() is None:
            self.process.proc.send_signal(signal.SIGKILL)
            self.process.proc.wait(10)

    def stop(self) -> None:
        if self.process.proc.poll() is None:
            self.process.proc.send_signal(signal.SIGTERM)
            try:
                self.process.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    store: str
    redis: RedisServer
    prefix: str
    root: Path
    options: tuple[str, ...]
    tls: TlsFiles | None = None
    nodes: list[Node] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start_node(self, *extra: str, data_dir: Path | None = None) -> Node:
        """A new node, or one restarted on the ``data_dir`` of a node that stopped."""
        if data_dir is None:
            data_dir = self.root / f"node-{secrets.token_hex(4)}"
            data_dir.mkdir()
        process = server_process.start(
            data_dir,
            server_process.free_port(),
            "--store",
            self.store,
            "--bus",
            self.redis.url,
            "--bus-prefix",
            self.prefix,
            *self.options,
            *extra,
            tls=self.tls,
        )
        node = Node(process, data_dir)
        with self._lock:
            self.nodes.append(node)
        return node

    def start_nodes(self, count: int) -> None:
        """Start ``count`` nodes at once (each takes seconds to import and migrate)."""
        if count == 0:
            return
        with ThreadPoolExecutor(count) as pool:
            for future in [pool.submit(self.start_node) for _ in range(count)]:
                future.result()

    def stop(self) -> None:
        with ThreadPoolExecutor(max(1, len(self.nodes))) as pool:
            list(pool.map(Node.stop, self.nodes))


# Short periods, so that what the tests wait for happens within a second or two.
OPTIONS = (
    "--max-sessions-per-user",
    "2",
    "--connect-burst",
    "6",
    "--connects-per-user-per-second",
    "0.2",
    "--session-lease-seconds",
    "3",
    "--iam-check-seconds",
    "0.5",
    "--bus-reorder-window-seconds",
    "0.5",
)


def on(node: Node, w: World) -> World:
    """The same app instance, driven through another node."""
    return World(
        node,  # type: ignore[arg-type]
        node.client("chime-sdk-identity"),
        node.client("chime-sdk-messaging"),
        w.app_arn,
        w.users,
    )


@contextlib.contextmanager
def cluster(
    root: Path,
    nodes: int = 2,
    options: tuple[str, ...] = OPTIONS,
    postgres: str | None = None,
    tls: TlsFiles | None = None,
) -> Iterator[Cluster]:
    """``postgres``: the server to make the database on (default: the tests' shared one);
    ``tls``: the nodes serve https and wss (what amazon-chime-sdk-js connects to)."""
    redis = RedisServer(root)
    redis.start()
    try:
        with temporary_database(postgres) as store:
            prefix = f"bw-test-{secrets.token_hex(4)}"
            running = Cluster(store, redis, prefix, root, options, tls)
            try:
                running.start_nodes(nodes)
                yield running
            finally:
                running.stop()
    finally:
        redis.kill()


async def catches_up(watched: Any, message_id: str) -> None:
    """After a 4410, the watched Python client (``Node.catching_up``) reconnects, marks the gap
    and reads ``message_id``, sent while it was away, from the store."""
    back = await watched.next(Established, timeout=15)
    assert back.reconnecting
    gap = await watched.next(Gap)
    assert gap.code == 4410 and gap.catching_up
    caught: SessionEvent = await watched.next(
        lambda i: isinstance(i, SessionEvent) and i.message_id == message_id
    )
    assert caught.caught_up
    await watched.next(CaughtUp)
