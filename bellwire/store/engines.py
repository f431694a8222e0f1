"""Which engine a node runs on: the one place that reads the ``store`` setting's URL."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bellwire.store.base import IamTx
from bellwire.store.sql import SqlTx
from bellwire.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from bellwire.store.postgres import PostgresStore


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def open_store(
    url: str,
    sqlite_path: Path,
    *,
    synchronous: str,
    readers: int,
    writers: int,
    max_batch: int,
) -> SqliteStore | PostgresStore:
    """The embedded SQLite store at ``sqlite_path`` when ``url`` is empty, else PostgreSQL (whose
    driver is imported only then). Migrates the schema; raises ``SchemaTooNew`` on a newer one and
    ``StoreUnavailable`` when the database cannot be reached."""
    if not url:
        return SqliteStore(
            sqlite_path, synchronous=synchronous, readers=readers, max_batch=max_batch
        )
    if not is_postgres(url):
        raise ValueError(f"unsupported store URL: {url!r}")
    from bellwire.store.postgres import PostgresStore

    return PostgresStore(url, readers=readers, writers=writers, max_batch=max_batch)


@contextlib.contextmanager
def read_only(url: str, sqlite_path: Path) -> Iterator[IamTx]:
    """One read-only snapshot of the database a node with these settings uses, on its own
    connection (for command-line tools that read while a server may be running)."""
    if url:
        from bellwire.store.postgres import PgCursor, connect

        conn = connect(url)
        try:
            cur = conn.cursor()
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield SqlTx(PgCursor(cur, {}))
            cur.execute("COMMIT")
        finally:
            conn.close()
        return
    lite = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        yield SqlTx(lite.cursor())
    finally:
        lite.close()
