"""Both store engines behind one fixture, so the store's tests state each promise once.

``engine`` is parametrised over SQLite (a file in the test's tmp dir) and PostgreSQL (a database
created with a random name for the test and dropped after it, see ``bellwire.testing``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bellwire.records.chime import Message
from bellwire.store.base import Tx
from bellwire.store.sqlite import SqliteStore
from bellwire.store.sqlite import migrate as sqlite_migrate
from bellwire.testing import RunningServer, postgres_url, temporary_database


@dataclass
class Engine:
    """One engine under test: how to open its store and reach its database directly."""

    name: str
    open: Callable[..., Any]  # keyword options of the engine (max_batch, ...) -> store
    sql: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]  # fresh connection, autocommit
    migrate: Callable[[], int]
    read_only_error: type[Exception]
    url: str = ""


def sqlite_engine(tmp_path: Path) -> Engine:
    path = tmp_path / "db"

    def sql(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            return list(conn.execute(statement, params).fetchall())
        finally:
            conn.close()

    def migrate() -> int:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            return sqlite_migrate(conn)
        finally:
            conn.close()

    return Engine(
        "sqlite",
        lambda **kw: SqliteStore(path, **kw),
        sql,
        migrate,
        sqlite3.OperationalError,
    )


@contextmanager
def postgres_engine() -> Iterator[Engine]:
    import psycopg

    from bellwire.store.postgres import PostgresStore
    from bellwire.store.postgres import migrate as pg_migrate

    with temporary_database(postgres_url()) as url:

        def sql(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            with psycopg.connect(url, autocommit=True) as conn:
                cur = conn.execute(statement.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []

        def migrate() -> int:
            with psycopg.connect(url, autocommit=True) as conn:
                return pg_migrate(conn)

        yield Engine(
            "postgresql",
            lambda **kw: PostgresStore(url, **kw),
            sql,
            migrate,
            psycopg.errors.ReadOnlySqlTransaction,
            url,
        )


def dump_store(running: RunningServer) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read through a connection of its own to the server's database
    (its SQLite file read-only, or its PostgreSQL database)."""
    if running.settings.store:
        import psycopg

        with psycopg.connect(running.settings.store, autocommit=True) as pg:
            tables = [
                r[0]
                for r in pg.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
            ]
            return {
                t: sorted(pg.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
            }
    path = Path(running.data_dir) / "bellwire.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        return {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
    finally:
        conn.close()


def plain_message(channel_arn: str, message_id: str) -> Message:
    """A persistent STANDARD message, SENT, with nothing optional: for tests of the store
    where only its channel and id matter (numbered on insert)."""
    return Message(
        channel_arn, message_id, 0, "arn:app/user/u", "u", "hi", None, "STANDARD",
        "PERSISTENT", False, 1.0, 1.0,
    )  # fmt: skip


def stored_messages(tx: Tx, channel_arn: str, sub_channel_id: str | None = None) -> list[Message]:
    """Every message the store keeps under ``channel_arn``, whether or not the channel is
    still there (up to 1,000, oldest first); with ``sub_channel_id``, those of that
    sub-channel, whether or not it is still there (without, a deleted one's are passed over)."""
    return tx.list_messages(
        channel_arn,
        viewer=None,
        descending=False,
        not_before=None,
        not_after=None,
        after_seq=None,
        limit=1000,
        sub_channel_id=sub_channel_id,
    )
