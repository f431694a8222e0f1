"""Processes of a benchmark run: the servers under test, pinned to their own core, and their
CPU and memory as the kernel reports them (``/proc``). Every process started here is stopped at
the end of the run, on failure too (``stop_all`` from ``finally``, ``atexit`` and signals).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
_STARTED: list[Proc] = []


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def placement() -> tuple[int | None, int | None]:
    """(server core, load-generator core): different cores when there are two or more."""
    available = cores()
    if len(available) < 2:
        return None, None
    return available[0], available[1]


def pin_self(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(want: int = 0) -> int:
    """Lift the soft open-files limit to the hard one (children inherit it); with ``want``,
    raise the hard limit too where the process may (root, up to the kernel's nr_open)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if want > hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            soft, hard = want, want
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


class Proc:
    """A child process in its own process group, optionally pinned to one core."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        core: int | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
    ) -> None:
        self.name = name
        command = list(argv)
        if core is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(core), *command]
        self._log = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        self.popen = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            cwd=cwd or ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )
        # With ``serve --workers N`` the work is done by children: count the whole tree.
        self.tree = False
        _STARTED.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10.0)
        if self._log is not subprocess.DEVNULL:
            self._log.close()  # type: ignore[union-attr]
            self._log = subprocess.DEVNULL
        if self in _STARTED:
            _STARTED.remove(self)

    # --- what the kernel says about it --------------------------------------------------------

    def rss_kib(self) -> int:
        """VmRSS of the process (the server is one process; its threads share it)."""
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        if self.tree:
            return tree_cpu_seconds(self.pid)
        return cpu_seconds(self.pid)

    def main_thread_cpu_seconds(self) -> float | None:
        """utime + stime of the process's first thread (bellwire's event loop); None for a
        tree of processes, whose threads are not one server's."""
        return None if self.tree else main_thread_cpu_seconds(self.pid)

    def wait_seconds(self) -> float:
        if self.tree:
            return sum(_alive(runqueue_wait_seconds, p) for p in [self.pid, *descendants(self.pid)])
        return runqueue_wait_seconds(self.pid)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, their children...), from the parent field of
    every ``/proc/PID/stat``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree_rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and every process below it (a supervisor and its workers)."""
    total = 0
    for each in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, RuntimeError):
            total += rss_kib(each)
    return total


def cpu_seconds(pid: int) -> float:
    """utime + stime of all threads of ``pid`` (fields 14 and 15 of /proc/PID/stat)."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of the first thread of ``pid`` alone (its task whose id is ``pid``).

    A GIL profile undercounts the other threads: SQLite runs its statements and the COMMIT
    its fsync without the GIL, so only the threads' own clocks split a server's CPU."""
    return _stat_cpu_seconds(Path(f"/proc/{pid}/task/{pid}/stat"))


def _stat_cpu_seconds(stat: Path) -> float:
    text = stat.read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _alive(read: Callable[[int], float], pid: int) -> float:
    """``read(pid)``, or 0 for a process that has just exited."""
    try:
        return read(pid)
    except (OSError, ValueError, IndexError):
        return 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU of ``pid`` and its live descendants (a worker that exited takes its share along)."""
    return sum(_alive(cpu_seconds, p) for p in [pid, *descendants(pid)])


def runqueue_wait_seconds(pid: int) -> float:
    """Time the threads of ``pid`` spent runnable but not running (``/proc/PID/task/*/schedstat``,
    second field): high when other work competes for the core, whatever the process does."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def stop_all() -> None:
    for proc in reversed(list(_STARTED)):
        with contextlib.suppress(Exception):
            proc.stop()


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    sys.exit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def wait_port(port: int, timeout: float, proc: Proc | None = None) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} while starting")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")
