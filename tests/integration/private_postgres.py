"""A PostgreSQL cluster of the test's own, so that a test may stop and restart it for real.

The machine's PostgreSQL is shared by everything running on it and is never stopped by a test;
this one is made with ``initdb`` in a temporary directory (trust authentication, user
``postgres``, listening on 127.0.0.1 at a free port, its socket in the directory) and driven
with ``pg_ctl``. The server binaries are PostgreSQL 15's (``/usr/lib/postgresql/15/bin``, or
``BELLWIRE_TEST_PG_BIN``). PostgreSQL refuses to run as root: as root, its commands run as the
``postgres`` user (``runuser``), which owns the directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import server_process

PG_BIN_ENV = "BELLWIRE_TEST_PG_BIN"
PG_BIN = Path(os.environ.get(PG_BIN_ENV, "/usr/lib/postgresql/15/bin"))


class PrivatePostgres:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            pytest.fail(f"initdb not found in {PG_BIN} (install postgresql-15 or set {PG_BIN_ENV})")
        # Its own directory under the system's temporary one: the postgres user must reach it,
        # and pytest's tmp_path is private to the user running the tests.
        self.root = Path(tempfile.mkdtemp(prefix="bellwire-pg-"))
        self.data = self.root / "data"
        self.port = server_process.free_port()
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.fail("running as root needs runuser to start PostgreSQL as postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """The administrative database (``temporary_database`` creates test databases next to it)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise AssertionError(f"pg_ctl {' '.join(args)}: {done.stdout}{done.stderr}\n{log}")

    def init(self) -> None:
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        done = subprocess.run(
            [
                *self._as,
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # the cluster is thrown away: its creation need not be durable
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        # Commits stay durable (fsync, synchronous_commit as by default): the restart tests
        # check that what was acknowledged survives an immediate shutdown.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 100\n"
            )

    def start(self) -> None:
        self._ctl("-l", str(self.log), "-w", "start")

    def first_start(self) -> None:
        """Start, moving to another free port if the one picked was taken meanwhile (the
        machine is shared): the port is only known to be free when it was picked."""
        for attempt in range(3):
            try:
                self.start()
                return
            except AssertionError:
                if attempt == 2 or "could not bind" not in self.log.read_text(errors="replace"):
                    raise
            self.port = server_process.free_port()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {self.port}\n")  # the last setting wins

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate") -> None:
        """``pg_ctl -m immediate restart``: every backend ends at once, no checkpoint; the
        server comes back through crash recovery."""
        self._ctl("-l", str(self.log), "-m", mode, "-w", "restart")

    def processes(self) -> list[int]:
        """The postmaster and its children (the backends, the background workers)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # The fields after the command's closing parenthesis: state, then the parent.
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> list[int]:
        """SIGSTOP every process of the server: its connections stay open and the kernel
        still acknowledges what is sent to them, but nothing answers (a hung host, a frozen
        VM). ``thaw`` with what this returns."""
        pids = self.processes()
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def running(self) -> bool:
        done = subprocess.run(
            [*self._as, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
        )
        return done.returncode == 0


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.init()
        server.first_start()
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(server.root, ignore_errors=True)
