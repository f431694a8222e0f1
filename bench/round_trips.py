"""Statements and round trips per SendChannelMessage on each store engine.

    .venv/bin/python -m bench.round_trips [--sends 200] [--engine sqlite|postgresql|both]

Runs the registered operation through the store exactly as the REST layer does (export
staging and the IAM-version wrapper included), on a fresh database, and counts:

- statements: every SQL statement the engine executed (SQLite's trace callback; on PostgreSQL
  each ``execute`` of the driver, so ``RELEASE ...; SAVEPOINT ...`` sent as one counts once);
- round trips (PostgreSQL): times the writer waited for the server, counted by a TCP relay
  between the store and PostgreSQL as the turns of the conversation (client speaks, server
  answers). Pipelined statements share a turn.

Sends carry a ClientRequestToken, as the AWS SDKs' do (``--no-token``: without). Two shapes: ``serial`` sends one at a time (one unit per transaction: BEGIN and COMMIT are
the send's own), ``grouped`` sends them all at once (group commit: per-batch statements are
shared). Only the writer's work is counted; the HTTP, SigV4 and IAM steps do not touch the
store.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bellwire.api.operations import _versioned, find
from bellwire.domain import export
from bellwire.domain.operation import Call
from bellwire.records.chime import AppInstance, AppInstanceUser, Channel, Membership
from bellwire.store import sqlite as sqlite_engine
from bellwire.store.base import IamTx

ACCOUNT = "123456789012"
APP = f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/00000000-0000-0000-0000-00000000feed"
CHANNEL = f"{APP}/channel/rt"
USERS = [f"{APP}/user/u{i:03d}" for i in range(64)]


def fixtures(tx: IamTx) -> None:
    tx.insert_app_instance(AppInstance(APP, "rt", None, 1.0, 1.0))
    tx.insert_channel(
        Channel(CHANNEL, APP, "rt", "RESTRICTED", "PRIVATE", None, USERS[0], 1.0, 1.0, None, 0)
    )
    for arn in USERS:
        tx.insert_user(AppInstanceUser(arn, APP, arn[-4:], None, 1.0, 1.0))
        tx.insert_membership(Membership(CHANNEL, arn, "DEFAULT", USERS[0], 1.0, 1.0))


def send_unit(k: int, token: bool = True) -> Callable[[IamTx], Any]:
    registered = find("chime", "SendChannelMessage")
    call = Call("us-east-1", ACCOUNT, round(time.time(), 3))
    params = {
        "ChannelArn": CHANNEL,
        "ChimeBearer": USERS[k % len(USERS)],
        "Content": f"hello {k}",
        "Type": "STANDARD",
        "Persistence": "PERSISTENT",
        # The AWS SDKs fill it in on every send (an idempotency token), as bench.run does.
        **({"ClientRequestToken": uuid.uuid4().hex} if token else {}),
    }
    unit = export.staged(lambda tx: registered.fn(tx, call, params), time.time)
    return functools.partial(_versioned, unit)


TOKEN = True  # --no-token: sends without a ClientRequestToken


async def run_sends(store: Any, sends: int, grouped: bool) -> None:
    if grouped:
        await asyncio.gather(*(store.write(send_unit(k, TOKEN), key=CHANNEL) for k in range(sends)))
    else:
        for k in range(sends):
            await store.write(send_unit(k, TOKEN), key=CHANNEL)


# --- SQLite: every statement through the connection's trace callback -------------------------


class Counter:
    def __init__(self) -> None:
        self.statements = 0
        self.turns = 0
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.statements = self.turns = 0


async def measure_sqlite(sends: int) -> dict[str, dict[str, float]]:
    counter = Counter()
    original = sqlite_engine._connect

    def traced(path: Path, synchronous: str) -> sqlite3.Connection:
        conn = original(path, synchronous)

        def count(_: str) -> None:
            counter.statements += 1

        conn.set_trace_callback(count)
        return conn

    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_engine._connect = traced
        try:
            store = sqlite_engine.SqliteStore(Path(tmp) / "db")
        finally:
            sqlite_engine._connect = original
        try:
            await store.write(fixtures)
            for shape in ("serial", "grouped"):
                await run_sends(store, 8, shape == "grouped")  # warm caches
                counter.reset()
                await run_sends(store, sends, shape == "grouped")
                out[shape] = {"statements": counter.statements / sends}
        finally:
            await store.close()
    return out


# --- PostgreSQL: statements through the driver, round trips through a relay --------------------


@contextmanager
def relay(target: tuple[str, int], counter: Counter) -> Iterator[int]:
    """A TCP relay to ``target`` on a free port that counts the turns of each conversation."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    stop = threading.Event()

    def pump(conn: socket.socket) -> None:
        upstream = socket.create_connection(target)
        last = "server"

        def back() -> None:
            nonlocal last
            try:
                while data := upstream.recv(65536):
                    last = "server"
                    conn.sendall(data)
            except OSError:
                pass
            finally:
                conn.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while data := conn.recv(65536):
                with counter.lock:
                    if last == "server":  # the client speaks again after an answer
                        counter.turns += 1
                    last = "client"
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=pump, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        server.close()
        thread.join()


async def measure_postgres(sends: int) -> dict[str, dict[str, float]]:
    import psycopg

    from bellwire.store.postgres import PostgresStore
    from bellwire.testing import temporary_database

    counter = Counter()
    original = psycopg.Cursor.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        with counter.lock:
            counter.statements += 1
        return original(self, *args, **kwargs)

    out: dict[str, dict[str, float]] = {}
    with temporary_database() as url:
        parts = urlsplit(url)
        target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        with relay(target, counter) as port:
            netloc = f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}"
            relayed = urlunsplit(parts._replace(netloc=netloc))
            # One writer: every unit's statements are on one connection, as a busy channel's are.
            store = PostgresStore(relayed, writers=1)
            psycopg.Cursor.execute = counted  # type: ignore[method-assign]
            try:
                await store.write(fixtures)
                for shape in ("serial", "grouped"):
                    await run_sends(store, 8, shape == "grouped")
                    counter.reset()
                    await run_sends(store, sends, shape == "grouped")
                    out[shape] = {
                        "statements": counter.statements / sends,
                        "round_trips": counter.turns / sends,
                    }
            finally:
                psycopg.Cursor.execute = original  # type: ignore[method-assign]
                await store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--no-token", action="store_true", help="sends without a ClientRequestToken"
    )
    args = parser.parse_args(argv)
    global TOKEN
    TOKEN = not args.no_token
    rows: list[tuple[str, str, dict[str, float]]] = []
    if args.engine in ("sqlite", "both"):
        for shape, data in asyncio.run(measure_sqlite(args.sends)).items():
            rows.append(("sqlite", shape, data))
    if args.engine in ("postgresql", "both"):
        for shape, data in asyncio.run(measure_postgres(args.sends)).items():
            rows.append(("postgresql", shape, data))
    token = "with" if TOKEN else "without"
    print(f"per SendChannelMessage, {args.sends} sends {token} a ClientRequestToken")
    print(f"{'engine':<11} {'shape':<8} {'statements':>10} {'round trips':>11}")
    for engine, shape, data in rows:
        trips = data.get("round_trips")
        print(
            f"{engine:<11} {shape:<8} {data['statements']:>10.2f} "
            f"{'' if trips is None else f'{trips:.2f}':>11}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
