"""Where export, import and backup meet the database: connections, locks, transactions, copies.

The only module of ``transfer/`` that knows the engine is SQLite; the queries themselves are the
store's own (:class:`~bellwire.store.sql.SqlTx`), so a change of schema or engine stays in
``store/``.

- A **snapshot** is one read transaction on its own connection: in WAL mode it sees the database
  as of its first read, whatever a running server commits meanwhile, and blocks nobody.
- A **target** is the database of a stopped server, held with an exclusive lock for the whole
  import: a running server keeps its connections open, so the lock is refused while one runs, and
  a server started during the import waits instead of serving a half-imported state.
- A **backup** is SQLite's online backup in one step: one read transaction on the source, so the
  copy is the database as of one commit while the server goes on writing.

On PostgreSQL (the ``store`` setting is a ``postgresql://`` URL) a snapshot is one REPEATABLE
READ, read-only transaction, and a target is the database while no node is connected to it
(checked, and an advisory lock keeps two imports apart). There is no backup: that is pg_dump's
job (docs/operations-data.md).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from bellwire.store import postgres
from bellwire.store.base import IamTx, StoreUnavailable
from bellwire.store.migrations import SchemaTooNew
from bellwire.store.sql import SqlTx
from bellwire.store.sqlite import migrate

DB_FILE = "bellwire.db"

# A record that breaks a uniqueness rule the loader does not check by key (an IAM user id
# already used by another name). On SQLite the statement fails alone; on PostgreSQL the whole
# transaction is then aborted; either way the importer rolls the batch back.
ConstraintError = (sqlite3.IntegrityError, psycopg.IntegrityError)

# Held by an import on PostgreSQL, so that two imports into one database exclude each other.
IMPORT_LOCK = postgres.MIGRATION_LOCK + 1

Source = Path | str  # the SQLite file of a data dir, or a postgresql:// URL


def without_password(source: Source) -> str:
    """How to name a source in a file or a message: a URL loses its password."""
    if isinstance(source, Path):
        return str(source)
    parts = urllib.parse.urlsplit(source)
    if parts.password is None:
        return source
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


class DatabaseError(Exception):
    """A database that cannot be used for the asked job; the message says why and what to do."""


@contextlib.contextmanager
def _pg_snapshot(url: str) -> Iterator[IamTx]:
    try:
        conn = postgres.connect(url)
    except StoreUnavailable as exc:
        raise DatabaseError(str(exc)) from None
    try:
        cur = conn.cursor()
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield SqlTx(postgres.PgCursor(cur, {}))
        finally:
            cur.execute("COMMIT")
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read the PostgreSQL database: {exc}") from None
    finally:
        conn.close()


@contextlib.contextmanager
def snapshot(db: Source) -> Iterator[IamTx]:
    """A consistent read-only view of ``db`` for as long as the block runs."""
    if isinstance(db, str):
        with _pg_snapshot(db) as tx:
            yield tx
        return
    if not db.is_file():
        raise DatabaseError(f"no database at {db}")
    conn = sqlite3.connect(db, isolation_level=None, timeout=30.0)
    try:
        conn.execute("PRAGMA query_only=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        try:
            # The snapshot starts at the first read, not at BEGIN: read now.
            cursor.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            yield SqlTx(cursor)
        finally:
            cursor.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot read {db}: {exc}") from None
    finally:
        conn.close()


class PgTarget:
    """A PostgreSQL database an import writes into, while no node is connected to it."""

    def __init__(self, url: str) -> None:
        self.path = url
        try:
            self._conn: psycopg.Connection[Any] = postgres.connect(url)
        except StoreUnavailable as exc:
            raise DatabaseError(str(exc)) from None
        try:
            got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (IMPORT_LOCK,)).fetchone()
            if not got or not got[0]:
                raise DatabaseError("another import into this database is running")
            nodes = self._conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'bellwire' AND pid <> pg_backend_pid()"
            ).fetchone()
            if nodes and nodes[0]:
                raise DatabaseError(
                    "bellwire nodes are connected to this database: stop them, import, then "
                    "start them again"
                )
            postgres.migrate(self._conn)
        except SchemaTooNew as exc:
            self._conn.close()
            raise DatabaseError(str(exc)) from None
        except psycopg.Error as exc:
            self._conn.close()
            raise DatabaseError(f"cannot open the PostgreSQL database: {exc}") from None
        except DatabaseError:
            self._conn.close()
            raise
        self.tx: IamTx = SqlTx(postgres.PgCursor(self._conn.cursor(), {}))

    def begin(self) -> None:
        self._conn.execute("BEGIN")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        if not self._conn.closed:
            self.rollback()
            self._conn.close()


def open_target(source: Source) -> Target | PgTarget:
    """The import target of a data dir's SQLite file or of a PostgreSQL URL."""
    return PgTarget(source) if isinstance(source, str) else Target(source)


class Target:
    """The database an import writes into, locked against any server for its whole life."""

    def __init__(self, db: Path) -> None:
        self.path = db
        db.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(db.parent, 0o700)
        if not db.exists():  # it will hold secrets: owner only, like the server makes it
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = sqlite3.connect(db, isolation_level=None, timeout=1.0)
        try:
            self._conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._conn.execute("PRAGMA busy_timeout=1000")
            self._conn.execute("BEGIN EXCLUSIVE")
            self._conn.execute("COMMIT")  # the lock stays: locking_mode is EXCLUSIVE
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            migrate(self._conn)
        except sqlite3.OperationalError as exc:
            self._conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseError(
                    f"{db} is in use (is a server running on this data dir?): stop the server, "
                    "import, then start it again"
                ) from None
            raise DatabaseError(f"cannot open {db}: {exc}") from None
        except SchemaTooNew as exc:  # a schema newer than this bellwire
            self._conn.close()
            raise DatabaseError(str(exc)) from None
        self.tx: IamTx = SqlTx(self._conn.cursor())

    def begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self.rollback()
        self._conn.close()


def backup(source: Path, dest: Path, *, verify: bool = True) -> int:
    """Copy the database ``source`` to the new file ``dest`` (owner-only), consistently, while
    a server may be writing to it; returns the size of the copy in bytes."""
    if not source.is_file():
        raise DatabaseError(f"no database at {source}")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(source, timeout=30.0)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            dst = sqlite3.connect(partial)
            try:
                # One step (pages=-1): one read transaction on the source. A stepwise copy
                # restarts whenever another connection writes, so it may never finish.
                src.backup(dst, pages=-1)
                if verify:
                    result = dst.execute("PRAGMA integrity_check").fetchall()
                    if result != [("ok",)]:
                        raise DatabaseError(f"the copy failed its integrity check: {result[:5]}")
                # The copy keeps the source's WAL mode: fold its journal in before renaming.
                dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                dst.close()
        finally:
            src.close()
        if Path(str(partial) + "-wal").exists():
            raise DatabaseError(f"the copy {partial} kept a journal; try again")
        os.replace(partial, dest)
    except sqlite3.DatabaseError as exc:
        partial.unlink(missing_ok=True)
        raise DatabaseError(f"cannot back up {source}: {exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest.stat().st_size
