"""Who holds the subscribers' sockets in a fan-out scenario: this Python process
(``bench/wsclient.py``) or the compiled receiver (``bench/loadgen/receiver.c``).

The Python receiver costs the load generator a callback, a read and a few C-speed scans per
delivery batch; at a few hundred thousand deliveries per second that took most of a core, and
the load generator, not the server, set the figure (issue 17). The C receiver reads the same
sockets from one epoll loop in its own process, and tells this process what it counted over a
line protocol (described in ``receiver.c``). It is built with ``gcc`` into ``build/bench/`` the
first time it is needed and again whenever its source is newer than the binary.

``--receiver auto`` chooses C where ``gcc`` (or an up-to-date binary) is found, else Python.
Both run on the load generator's core (the child inherits the affinity), and both report the
CPU they used, so ``loadgen_cpu`` covers everything that received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from bench import procs, wsclient
from bench.wsclient import MAX_SAMPLES, SAMPLE, Totals, WsClient

SOURCE = Path(__file__).resolve().parent / "loadgen" / "receiver.c"
BINARY = procs.ROOT / "build" / "bench" / "receiver"
KINDS = ("auto", "c", "python")
CFLAGS = ("-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11")


class ReceiverError(RuntimeError):
    """The receiver could not be built, or failed while connecting."""


def stale() -> bool:
    return not BINARY.exists() or BINARY.stat().st_mtime < SOURCE.stat().st_mtime


def build(force: bool = False) -> Path:
    """Compile the receiver when missing or older than its source; returns the binary.

    Compiled to a temporary name and renamed, so a concurrent run never executes half a file."""
    if not force and not stale():
        return BINARY
    compiler = shutil.which("gcc")
    if compiler is None:
        raise ReceiverError("gcc not found: the C receiver cannot be built (--receiver python)")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".receiver-", dir=BINARY.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [compiler, *CFLAGS, "-o", tmp, str(SOURCE)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise ReceiverError(f"gcc failed:\n{done.stderr.strip()}")
        os.replace(tmp, BINARY)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return BINARY


def resolve(kind: str) -> str:
    """``auto`` → ``c`` when it can be built (or is built), else ``python``."""
    if kind not in KINDS:
        raise ValueError(f"unknown receiver {kind!r}: one of {', '.join(KINDS)}")
    if kind == "auto":
        return "c" if shutil.which("gcc") or not stale() else "python"
    return kind


class Subscribers(Protocol):
    """The subscribed sockets of one fan-out phase, whoever holds them."""

    kind: str
    count: int

    def set_rcvlowat(self, size: int) -> None:
        """Wake on counting sockets only once ``size`` bytes wait (1: the default)."""

    def dropped(self) -> int:
        """Connections that ended after their upgrade."""

    def helper_cpu_seconds(self) -> float:
        """CPU used outside this process (the C receiver's), since it started."""

    def helper_wait_seconds(self) -> float:
        """Run-queue wait of the helper process, since it started."""

    async def settle(self) -> None:
        """Return once ``totals`` holds everything received before the call."""

    async def close(self) -> None: ...


class PythonSubscribers:
    kind = "python"

    def __init__(self, clients: list[WsClient]) -> None:
        self.clients = clients
        self.count = len(clients)

    def set_rcvlowat(self, size: int) -> None:
        wsclient.set_rcvlowat(self.clients, size)

    def dropped(self) -> int:
        return sum(1 for c in self.clients if c.lost)

    def helper_cpu_seconds(self) -> float:
        return 0.0

    def helper_wait_seconds(self) -> float:
        return 0.0

    async def settle(self) -> None:
        await asyncio.sleep(0.05)  # data already read is counted; give the loop a few turns

    async def close(self) -> None:
        wsclient.close_all(self.clients)


class CSubscribers:
    """One receiver process holding every socket of the phase."""

    kind = "c"

    def __init__(self, proc: asyncio.subprocess.Process, totals: Totals) -> None:
        self.proc = proc
        self.totals = totals
        self.count = 0
        self.markers = 0  # cumulative figures of the last "n" report
        self.bytes = 0
        self.frames = 0
        self.ended = 0
        self.errors: list[str] = []
        self.outcomes: dict[int, str | None] = {}  # id -> None (upgraded) or failure reason
        self.connected = asyncio.Event()
        self.expected = 0
        self.barriers: list[asyncio.Future[None]] = []
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        totals = self.totals
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            kind = line[:1]
            if kind == b"n":
                _, markers, size, frames = line.split()
                count = int(markers)
                totals.delivered += count - self.markers
                totals.bytes += int(size) - self.bytes
                self.markers, self.bytes, self.frames = count, int(size), int(frames)
                if totals.delivered >= totals.wake_at and totals.wake is not None:
                    totals.wake()
            elif kind == b"s":
                if len(totals.latencies_ns) < MAX_SAMPLES:
                    totals.latencies_ns.extend(map(int, line.split()[1:]))
            elif kind == b"u":
                self._outcome(int(line.split()[1]), None)
            elif kind == b"f":
                _, failed, reason = line.decode().split(maxsplit=2)
                self._outcome(int(failed), reason.strip())
            elif kind == b"x":
                code = int(line.split()[2])
                self.ended += 1
                totals.closed += 1
                totals.close_codes[code] = totals.close_codes.get(code, 0) + 1
            elif kind == b"r":
                if self.barriers:
                    future = self.barriers.pop(0)
                    if not future.done():
                        future.set_result(None)
            else:
                self.errors.append(line.decode(errors="replace").strip())
        self.connected.set()  # the process ended: nobody waits for more outcomes
        for future in self.barriers:
            if not future.done():
                future.set_exception(ReceiverError("the receiver exited"))

    def _outcome(self, ident: int, reason: str | None) -> None:
        self.outcomes[ident] = reason
        if len(self.outcomes) >= self.expected:
            self.connected.set()

    async def _send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        await self.proc.stdin.drain()

    async def connect(
        self,
        port: int,
        paths: Sequence[str],
        mode_of: Callable[[int], int],
        host_header: str,
        source_of: Callable[[int], str | None] | None,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.expected = len(paths)
        self.connected.clear()
        lines = [f"h {host_header}\n", f"k {concurrency}\n"]
        for i, path in enumerate(paths):
            mode = 1 if mode_of(i) == SAMPLE else 0
            source = (source_of(i) if source_of else None) or "-"
            lines.append(f"c {i} {mode} {port} {source} {path}\n")
        await self._send("".join(lines))
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise ReceiverError(
                f"{len(self.outcomes)} of {len(paths)} connections answered in {timeout}s"
            ) from None
        failed = {i: r for i, r in self.outcomes.items() if r is not None}
        if len(self.outcomes) < len(paths) or failed:
            first = sorted(failed.items())[:3]
            raise ReceiverError(
                f"{len(failed)} of {len(paths)} connections failed "
                f"({len(self.outcomes)} answered): {first} {self.errors[:3]}"
            )
        self.count = len(paths)

    def set_rcvlowat(self, size: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"l {size}\n".encode())

    def dropped(self) -> int:
        return self.ended

    def helper_cpu_seconds(self) -> float:
        try:
            return procs.cpu_seconds(self.proc.pid)
        except (OSError, ValueError):
            return 0.0

    def helper_wait_seconds(self) -> float:
        return procs.runqueue_wait_seconds(self.proc.pid)

    async def settle(self) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.barriers.append(future)
        await self._send("r\n")
        await asyncio.wait_for(future, 30.0)

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._send("q\n")
            try:
                await asyncio.wait_for(self.proc.wait(), 10.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.reader, 5.0)


async def start_c(totals: Totals) -> CSubscribers:
    binary = build()
    proc = await asyncio.create_subprocess_exec(
        str(binary),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    return CSubscribers(proc, totals)


async def subscribe(
    kind: str,
    port: int,
    paths: Sequence[str],
    totals: Totals,
    mode_of: Callable[[int], int],
    *,
    host_header: str | None = None,
    source_of: Callable[[int], str | None] | None = None,
    concurrency: int = 200,
    timeout: float = 180.0,
) -> Subscribers:
    """Open ``len(paths)`` upgraded connections to 127.0.0.1:``port`` with receiver ``kind``
    (``c`` or ``python``; resolve ``auto`` first); raise if any fails."""
    host = host_header or f"127.0.0.1:{port}"
    if kind == "python":
        clients = await wsclient.connect_many(
            len(paths),
            lambda i: paths[i],
            port,
            totals,
            mode_of,
            concurrency=concurrency,
            timeout=timeout,
            host_header=host,
            source_of=source_of,
        )
        return PythonSubscribers(clients)
    if kind != "c":
        raise ValueError(f"unknown receiver {kind!r}")
    subs = await start_c(totals)
    try:
        await subs.connect(port, paths, mode_of, host, source_of, concurrency, timeout)
    except BaseException:
        await subs.close()
        raise
    return subs


async def subscribe_spread(
    port: int,
    paths: Sequence[str],
    totals: Totals,
    *,
    per_process: int,
    host_header: str | None = None,
    source_of: Callable[[int], str | None] | None = None,
    concurrency: int = 200,
    timeout: float = 600.0,
) -> list[CSubscribers]:
    """Open ``len(paths)`` counting connections over as many C receivers as hold
    ``per_process`` each (a process's open-files limit is its own), all at once."""
    host = host_header or f"127.0.0.1:{port}"
    groups: list[CSubscribers] = []
    try:
        slices = [
            range(s, min(s + per_process, len(paths))) for s in range(0, len(paths), per_process)
        ]
        for _ in slices:
            groups.append(await start_c(totals))
        await asyncio.gather(
            *(
                group.connect(
                    port,
                    [paths[i] for i in part],
                    lambda _i: wsclient.COUNT,
                    host,
                    _shifted(source_of, part.start),
                    concurrency,
                    timeout,
                )
                for group, part in zip(groups, slices, strict=True)
            )
        )
    except BaseException:
        for group in groups:
            await group.close()
        raise
    return groups


def _shifted(
    source_of: Callable[[int], str | None] | None, base: int
) -> Callable[[int], str | None] | None:
    """``source_of`` for a slice that starts at ``base`` of the whole."""
    if source_of is None:
        return None
    return lambda i: source_of(base + i)
