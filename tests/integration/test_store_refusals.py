"""``bellwire serve`` refuses, with one clear line and exit status 1, a database it must not use:
one whose schema is newer than this bellwire (on both engines), and a PostgreSQL still
unreachable when ``store_start_wait_seconds`` has passed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from bellwire.cli import main
from bellwire.store.migrations import MIGRATIONS
from bellwire.store.postgres import migrate as pg_migrate
from bellwire.store.sqlite import migrate as sqlite_migrate
from bellwire.testing import temporary_database

NEWER = len(MIGRATIONS) + 1


def _serve(data_dir: Path, *extra: str) -> int:
    return main(
        ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir), *extra]
    )


@pytest.fixture(autouse=True)
def _no_store_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BELLWIRE_STORE", raising=False)
    monkeypatch.delenv("BELLWIRE_CONFIG", raising=False)


def test_sqlite_newer_schema_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    conn = sqlite3.connect(data_dir / "bellwire.db", isolation_level=None)
    sqlite_migrate(conn)
    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (NEWER,))
    conn.close()
    assert _serve(data_dir) == 1
    err = capsys.readouterr().err
    assert f"cannot start: the database schema is version {NEWER}, newer than this" in err
    assert "Traceback" not in err


def test_postgresql_newer_schema_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with temporary_database() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            pg_migrate(conn)
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (NEWER,))
        assert _serve(tmp_path / "data", "--store", url) == 1
    err = capsys.readouterr().err
    assert f"cannot start: the database schema is version {NEWER}, newer than this" in err
    assert "Traceback" not in err


def test_unreachable_postgresql_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket_nobody_listens_on() as port:
        store = f"postgresql://postgres@127.0.0.1:{port}/x"
        started = time.monotonic()
        assert _serve(tmp_path / "data", "--store", store, "--store-start-wait-seconds", "1") == 1
        # It kept trying for the wait it was given, saying why, then gave up.
        assert 1.0 <= time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "s (store_start_wait_seconds)" in err and "trying again for" in err
    assert "cannot start: cannot connect to PostgreSQL" in err
    assert "Traceback" not in err


def test_sigterm_while_waiting_for_the_store_stops_at_once(tmp_path: Path) -> None:
    with socket_nobody_listens_on() as port:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "bellwire", "serve", "--port", "0"),
                *("--data-dir", str(tmp_path / "data")),
                *("--store", f"postgresql://postgres@127.0.0.1:{port}/x"),
                *("--store-start-wait-seconds", "60"),
            ],
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("BELLWIRE_")},
        )
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # waiting, and saying so
                if "trying again for" in line:
                    break
            proc.send_signal(signal.SIGTERM)
            # Not the 60 s of the wait: a container's stop is not held up by a missing database.
            assert proc.wait(10) == 0
            assert "Traceback" not in proc.stderr.read()
        finally:
            proc.kill()
            proc.wait()
            proc.stderr.close()  # type: ignore[union-attr]


class socket_nobody_listens_on:
    """A loopback port that is bound (so nobody else takes it) but never listened on."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
