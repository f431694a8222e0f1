"""A pytest plugin: a real bellwire server for your tests, the way moto users test AWS code.

    def test_my_chat_app(bellwire_server):
        client = boto3.client("chime-sdk-messaging", **bellwire_server.boto3_kwargs())

    def test_old_messages_go(bellwire_server):
        ...  # PutAppInstanceRetentionSettings with RetentionDays=1, send a message
        bellwire_server.advance_clock(days=2)
        bellwire_server.sweep()  # the message is gone

``bellwire_server`` starts one server per test on a free loopback port with a temporary data
dir; ``bellwire_server_factory`` starts more (or restarts one on the same port and data dir).
``bellwire_processor_factory`` starts a channel flow processor next to them::

    def test_moderation(bellwire_processor_factory, bellwire_server_factory):
        processor = bellwire_processor_factory(flows.word_filter(deny=["spam"]))
        server = bellwire_server_factory(**processor.server_settings(LAMBDA_ARN))
        processor.target = server          # where it calls back, as root
The server runs on its own event loop in a background thread, so both sync (boto3) and async
tests can use it.

With ``BELLWIRE_TEST_STORE=postgresql://USER@HOST:PORT/DB`` in the environment, every server
started here without a ``store`` of its own runs on PostgreSQL instead, in a database created
for its data dir with a random name (``DB`` is only where that database is created from) and
dropped when the test process ends. :func:`temporary_database` does the same for one test.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bellwire.clock import Clock
from bellwire.config import Settings, load


@dataclass
class RunningServer:
    """A started server: where it is and how to sign in as root."""

    settings: Settings
    url: str
    endpoint_host: str
    port: int
    access_key_id: str
    secret_access_key: str
    region: str
    data_dir: Path
    _server: Any = field(repr=False)
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def boto3_kwargs(self, **overrides: Any) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": self.region,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
        }
        kwargs.update(overrides)
        return kwargs

    def client(self, service: str, **overrides: Any) -> Any:
        import boto3

        return boto3.client(service, **self.boto3_kwargs(**overrides))

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop (to reach its internals from a test)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def server(self) -> Any:
        return self._server

    # --- time: retention and expiration without waiting days ---------------------------------

    def advance_clock(self, seconds: float = 0.0, *, days: float = 0.0) -> float:
        """Move the server's clock forward (operations, retention, expiration and export read
        it); returns the new "now". Follow with :meth:`sweep` to apply what became due."""
        now: float = self._server.clock.advance(seconds, days=days)
        return now

    def sweep(self) -> Any:
        """Run one retention and expiration sweep now (the server also sweeps at start and
        every ``sweep_interval_seconds``); returns what it deleted (messages, channels, users)."""
        return self.run(self._server.sweeper.sweep())

    def relay_export(self) -> int:
        """Deliver the export outbox now (it is also delivered in the background); returns how
        many records the sinks took."""
        delivered: int = self.run(self._server.relay.relay_once())
        return delivered

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            self.run(self._server.stop(), timeout=60.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30.0)


# --- PostgreSQL databases of tests ------------------------------------------------------------

TEST_STORE_ENV = "BELLWIRE_TEST_STORE"
TEST_POSTGRES_ENV = "BELLWIRE_TEST_POSTGRES"
SKIP_POSTGRES_ENV = "BELLWIRE_TEST_SKIP_POSTGRES"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_url() -> str:
    """Where tests create their PostgreSQL databases: ``BELLWIRE_TEST_POSTGRES`` or the local
    server. Unreachable, it fails the calling test with what to do, or skips it when
    ``BELLWIRE_TEST_SKIP_POSTGRES=1`` says so explicitly: nothing is skipped silently."""
    import psycopg

    url = os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = f"PostgreSQL is not reachable at {url}: {str(exc).strip().splitlines()[0]}"
        if os.environ.get(SKIP_POSTGRES_ENV) == "1":
            pytest.skip(f"{reason} ({SKIP_POSTGRES_ENV}=1)")
        pytest.fail(
            f"{reason}. Start PostgreSQL (trust auth for its user), point {TEST_POSTGRES_ENV} "
            f"at one, or set {SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests.",
            pytrace=False,
        )
    return url


def create_database(admin_url: str) -> str:
    """Create a database with a random name next to ``admin_url``'s; returns its URL."""
    import psycopg

    name = "bellwire_test_" + secrets.token_hex(6)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urllib.parse.urlsplit(admin_url)._replace(path="/" + name).geturl()


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (closing what still uses it)."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith("bellwire_test_"):
        raise ValueError(f"not a test database: {name}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def temporary_database(admin_url: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database for the block; dropped after it."""
    url = create_database(admin_url or postgres_url())
    try:
        yield url
    finally:
        drop_database(url)


_databases: dict[Path, str] = {}


def _drop_all() -> None:
    for url in _databases.values():
        with contextlib.suppress(Exception):
            drop_database(url)
    _databases.clear()


atexit.register(_drop_all)


def store_for(data_dir: Path) -> str | None:
    """The PostgreSQL database of a data dir when ``BELLWIRE_TEST_STORE`` asks for one (the
    same one when a server restarts on that data dir)."""
    admin = os.environ.get(TEST_STORE_ENV)
    if not admin:
        return None
    key = data_dir.resolve()
    if key not in _databases:
        _databases[key] = create_database(admin)
    return _databases[key]


def start_server(data_dir: Path, clock: Clock | None = None, **overrides: Any) -> RunningServer:
    """Start a server in a background thread; returns once it accepts connections. ``clock``:
    the server's wall clock (``Clock(offset=...)`` starts it as if restarted days later)."""
    from bellwire.server import BellwireServer

    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "data_dir": data_dir}
    if "store" not in overrides:
        values["store"] = store_for(data_dir)
    values.update(overrides)
    settings = load(environ={}, overrides=values)
    loop = asyncio.new_event_loop()
    server = BellwireServer(settings, clock=clock)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                await server.start()
            except BaseException as exc:
                failure.append(exc)
            finally:
                started.set()

        boot_task = loop.create_task(boot())
        loop.run_forever()
        del boot_task
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="bellwire-test-server", daemon=True)
    thread.start()
    started.wait(60.0)
    if failure:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        raise failure[0]
    keys = server.root_keys
    assert keys is not None
    return RunningServer(
        settings=settings,
        url=server.url,
        endpoint_host=server.endpoint_host,
        port=server.port,
        access_key_id=keys.access_key_id,
        secret_access_key=keys.secret_access_key,
        region=settings.region,
        data_dir=data_dir,
        _server=server,
        _loop=loop,
        _thread=thread,
    )


@pytest.fixture
def bellwire_server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers with settings of your choice; all are stopped after the test."""
    started: list[RunningServer] = []
    counter = iter(range(1_000_000))

    def factory(
        data_dir: Path | None = None, clock: Clock | None = None, **overrides: Any
    ) -> RunningServer:
        running = start_server(
            data_dir or tmp_path / f"bellwire-{next(counter)}", clock, **overrides
        )
        started.append(running)
        return running

    yield factory
    for running in reversed(started):
        running.stop()


@pytest.fixture
def bellwire_server(bellwire_server_factory: Callable[..., RunningServer]) -> RunningServer:
    """A fresh server on a free loopback port with a temporary data dir."""
    return bellwire_server_factory()


# --- channel flow processors -------------------------------------------------------------------

PROCESSOR_SECRET = "bellwire-testing-webhook-secret"


@dataclass
class RunningProcessor:
    """A channel flow processor (``bellwire.flows.processor_app``) on a loopback port, calling
    back to ``target`` with its root keys."""

    url: str
    secret: str
    stats: Any
    target: RunningServer | None = None
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _runner: Any = field(default=None, repr=False)

    def server_settings(self, *lambda_arns: str) -> dict[str, Any]:
        """The overrides of a server that invokes this processor for ``lambda_arns``."""
        return {"resources": {arn: self.url for arn in lambda_arns}, "webhook_secret": self.secret}

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(30.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(30.0)


def start_processor(
    decide: Any, secret: str = PROCESSOR_SECRET, retry_delays: Sequence[float] | None = None
) -> RunningProcessor:
    """Start a processor whose decisions are ``decide(event)`` (``bellwire.flows``); a failed
    callback is tried again after each of ``retry_delays`` (Lambda's 1 and 2 minutes by
    default)."""
    from aiohttp import web

    from bellwire import flows

    holder: list[RunningProcessor] = []

    def client() -> Any:
        target = holder[0].target
        if target is None:
            raise RuntimeError("set RunningProcessor.target to the server to call back")
        return target.client("chime-sdk-messaging")

    delays = flows.LAMBDA_RETRY_DELAYS if retry_delays is None else retry_delays
    app = flows.processor_app(secret.encode(), decide, client, retry_delays=delays)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            ready.set()

        loop.run_until_complete(boot())
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="bellwire-test-processor", daemon=True)
    thread.start()
    ready.wait(30.0)
    port = runner.addresses[0][1]
    running = RunningProcessor(
        f"http://127.0.0.1:{port}/", secret, app[flows.STATS], None, loop, thread, runner
    )
    holder.append(running)
    return running


@pytest.fixture
def bellwire_processor_factory() -> Iterator[Callable[..., RunningProcessor]]:
    """Start channel flow processors; all are stopped after the test."""
    started: list[RunningProcessor] = []

    def factory(
        decide: Any, secret: str = PROCESSOR_SECRET, retry_delays: Sequence[float] | None = None
    ) -> RunningProcessor:
        started.append(start_processor(decide, secret, retry_delays))
        return started[-1]

    yield factory
    for running in started:
        running.stop()
