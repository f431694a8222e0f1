"""The servers under test, behind one small interface the scenarios drive.

- ``Bellwire``: ``python -m bellwire serve`` in its own process. Messages enter through the real
  REST API (signed SendChannelMessage, persisted and committed before the 201); sessions connect
  with presigned URLs, as the Chime SDK clients do.
- ``Baseline``: a broadcast server (``websockets`` or Node ``ws``). Subscribers connect to ``/``;
  publishers connect to ``/publish`` and each text message they send is written to every
  subscriber and acknowledged with ``ok``.
"""

from __future__ import annotations

import asyncio
import collections
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bellwire.aws import sigv4
from bench import procs, receivers, wsclient
from bench.rest import Chime, Signer, messages_path
from bench.wsclient import Frame, Totals, WsClient

ACCESS_KEY_ID = "AKIDBELLWIREBENCH0001"
SECRET = "bench-secret-not-a-real-credential"
REGION = "us-east-1"
NODE_DIR = Path(__file__).resolve().parent / "node"


class Publisher(Protocol):
    async def send(self, content: str) -> bool: ...

    def close(self) -> None: ...


class Target(Protocol):
    name: str
    proc: procs.Proc
    port: int

    async def subscribe(
        self, count: int, totals: Totals, mode_of: Callable[[int], int], receiver: str
    ) -> receivers.Subscribers: ...

    async def publishers(self, count: int) -> list[Publisher]: ...

    def stop(self) -> None: ...


# --- bellwire ---------------------------------------------------------------------------------


class RestPublisher:
    def __init__(self, chime: Chime, path: str, bearer: str) -> None:
        self.chime = chime
        self.path = path
        self.bearer = bearer

    async def send(self, content: str) -> bool:
        return await self.chime.send_message(self.path, self.bearer, content) == 201

    def close(self) -> None:
        self.chime.close()


@dataclass
class FanoutApp:
    app: str
    users: list[str]
    channels: dict[int, str] = field(default_factory=dict)  # size -> channel ARN
    durable_channel: str = ""


@dataclass
class ManyChannelsApp:
    app: str
    users: list[str]
    channels: list[list[int]]  # member indexes per channel
    arns: list[str]


class Bellwire:
    name = "bellwire"

    def __init__(
        self,
        data_dir: Path,
        core: int | None,
        log: Path,
        log_level: str = "warning",
        store: str = "",
        *,
        bus: str = "",
        source: Path | None = None,
        workers: int = 1,
    ) -> None:
        self.data_dir = data_dir
        self.store = store  # empty: the embedded SQLite store; else a postgresql:// URL
        self.bus = bus  # empty: the in-process bus; else a redis:// URL
        # Another checkout's source to run (A/B comparisons): its bellwire/ comes first.
        self.source = source
        self.workers = workers  # above 1: `serve --workers N` (needs PostgreSQL and Redis)
        self.core = core
        self.log = log
        self.log_level = log_level  # "info" writes an access line per REST request
        self.signer = Signer(ACCESS_KEY_ID, SECRET, REGION)
        self.port = procs.free_port()
        self.proc = self._start()
        self.fanout: FanoutApp | None = None
        self.fanout_size = 0  # which fan-out channel subscribers and publishers use
        self.connect_params: dict[str, str] = {}

    def _start(self) -> procs.Proc:
        proc = procs.Proc(
            "bellwire",
            [
                sys.executable,
                "-m",
                "bellwire",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                self.log_level,
                *(["--store", self.store] if self.store else []),
                *(["--bus", self.bus] if self.bus else []),
                *(["--workers", str(self.workers)] if self.workers > 1 else []),
            ],
            env={
                "BELLWIRE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "BELLWIRE_ROOT_SECRET_ACCESS_KEY": SECRET,
                **({"PYTHONPATH": str(self.source)} if self.source else {}),
            },
            core=self.core,
            cwd=self.source,
            log=self.log,
        )
        procs.wait_port(self.port, 60.0, proc)
        return proc

    def restart(self) -> None:
        """A fresh process on the same data dir and port (cold heap, for memory and storms)."""
        self.proc.stop()
        self.proc = self._start()

    def stop(self) -> None:
        self.proc.stop()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def chime(self) -> Chime:
        return Chime("127.0.0.1", self.port, self.signer)

    def connect_target(self, user_arn: str, **params: str) -> str:
        url = sigv4.presign_connect_url(
            host=self.host,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET,
            session_token=None,
            region=REGION,
            params={"sessionId": uuid.uuid4().hex, "userArn": user_arn, **params},
            now=datetime.now(UTC),
            scheme="ws",
            expires=300,
        )
        return url[len(f"ws://{self.host}") :]

    # --- setup through the REST API ----------------------------------------------------------

    async def create_users(self, app: str, prefix: str, count: int, workers: int) -> list[str]:
        users: list[str] = [""] * count
        clients = [self.chime() for _ in range(workers)]

        async def work(k: int) -> None:
            for i in range(k, count, workers):
                users[i] = await clients[k].create_user(app, f"{prefix}{i:06d}")

        try:
            await asyncio.gather(*(work(k) for k in range(workers)))
        finally:
            for client in clients:
                client.close()
        return users

    async def setup_fanout(self, sizes: list[int], durable_clients: int) -> FanoutApp:
        chime = self.chime()
        try:
            app = await chime.create_app_instance("bench-fanout")
            users = await self.create_users(app, "f", max([*sizes, durable_clients]), workers=16)
            state = FanoutApp(app, users)
            for size in sizes:
                channel = await chime.create_channel(
                    app, users[0], f"fanout-{size}", users[1 : min(size, 10)]
                )
                await chime.add_members(channel, users[0], users[10:size])
                state.channels[size] = channel
            state.durable_channel = await chime.create_channel(
                app, users[0], "durable", users[1 : min(durable_clients, 10)]
            )
            await chime.add_members(state.durable_channel, users[0], users[10:durable_clients])
        finally:
            chime.close()
        self.fanout = state
        return state

    async def setup_many_channels(
        self, users_count: int, per_user: int, channel_size: int, seed: int = 7
    ) -> ManyChannelsApp:
        """``users_count`` users, each in ``per_user`` channels of ``channel_size`` members:
        ``per_user`` rounds, each a random permutation of the users cut into channels."""
        import random

        rng = random.Random(seed)
        chime = self.chime()
        try:
            app = await chime.create_app_instance("bench-many-channels")
        finally:
            chime.close()
        users = await self.create_users(app, "m", users_count, workers=16)
        channels: list[list[int]] = []
        for _ in range(per_user):
            order = list(range(users_count))
            rng.shuffle(order)
            channels.extend(
                order[start : start + channel_size]
                for start in range(0, users_count - channel_size + 1, channel_size)
            )
        arns: list[str] = [""] * len(channels)
        workers = 16
        clients = [self.chime() for _ in range(workers)]

        async def work(k: int) -> None:
            for j in range(k, len(channels), workers):
                members = [users[i] for i in channels[j]]
                arn = await clients[k].create_channel(app, members[0], f"mc-{j}", members[1:10])
                if len(members) > 10:
                    await clients[k].add_members(arn, members[0], members[10:])
                arns[j] = arn

        try:
            await asyncio.gather(*(work(k) for k in range(workers)))
        finally:
            for client in clients:
                client.close()
        return ManyChannelsApp(app, users, channels, arns)

    # --- the Target interface (fan-out) --------------------------------------------------------

    async def subscribe(
        self, count: int, totals: Totals, mode_of: Callable[[int], int], receiver: str
    ) -> receivers.Subscribers:
        assert self.fanout is not None
        users = self.fanout.users
        paths = [self.connect_target(users[i], **self.connect_params) for i in range(count)]
        return await receivers.subscribe(
            receiver, self.port, paths, totals, mode_of, host_header=self.host
        )

    async def publishers(self, count: int) -> list[Publisher]:
        assert self.fanout is not None
        path = messages_path(self.fanout.channels[self.fanout_size])
        users = self.fanout.users
        return [
            RestPublisher(self.chime(), path, users[i % self.fanout_size]) for i in range(count)
        ]


# --- baselines ----------------------------------------------------------------------------------


class WsPublisher:
    """A ``/publish`` connection: sends a frame, awaits its ``ok`` (acks come in order)."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.pending: collections.deque[asyncio.Future[bool]] = collections.deque()
        client.on_frame = self._on_frame

    def _on_frame(self, _client: WsClient, frame: Frame) -> None:
        if frame.opcode == 0x1 and self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_result(frame.payload == b"ok")

    async def send(self, content: str) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.client.send(content.encode())
        return await asyncio.wait_for(future, 30.0)

    def close(self) -> None:
        self.client.abort()


class Baseline:
    def __init__(self, name: str, argv: list[str], core: int | None, log: Path) -> None:
        self.name = name
        self.port = procs.free_port()
        self.argv = [*argv, str(self.port)]
        self.core = core
        self.log = log
        self.proc = self._start()

    def _start(self) -> procs.Proc:
        proc = procs.Proc(self.name, self.argv, core=self.core, log=self.log, cwd=procs.ROOT)
        procs.wait_port(self.port, 30.0, proc)
        return proc

    def restart(self) -> None:
        self.proc.stop()
        self.proc = self._start()

    def stop(self) -> None:
        self.proc.stop()

    def connect_target(self, _index: int) -> str:
        return "/"

    async def subscribe(
        self, count: int, totals: Totals, mode_of: Callable[[int], int], receiver: str
    ) -> receivers.Subscribers:
        return await receivers.subscribe(receiver, self.port, ["/"] * count, totals, mode_of)

    async def publishers(self, count: int) -> list[Publisher]:
        result: list[Publisher] = []
        for _ in range(count):
            client = await wsclient.connect(self.port, "/publish", Totals(), wsclient.PARSE)
            result.append(WsPublisher(client))
        return result


def redis_server(core: int | None, log: Path, workdir: Path) -> tuple[procs.Proc, str]:
    """A private ``redis-server`` without persistence; returns it and its URL."""
    port = procs.free_port()
    proc = procs.Proc(
        "redis",
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        core=core,
        log=log,
    )
    procs.wait_port(port, 30.0, proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def websockets_baseline(core: int | None, log: Path) -> Baseline:
    return Baseline("websockets", [sys.executable, "-m", "bench.baselines.ws_broadcast"], core, log)


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def npm_ci(timeout: float = 180.0) -> None:
    """Install the Node baseline's pinned dependencies (``npm ci``) unless already there."""
    marker = NODE_DIR / "node_modules" / "ws" / "package.json"
    lock = NODE_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )


def node_baseline(core: int | None, log: Path) -> Baseline:
    return Baseline("node-ws", ["node", str(NODE_DIR / "broadcast.mjs")], core, log)
