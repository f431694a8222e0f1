"""Which engine a node runs on: the one place that reads the ``store`` setting's URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
