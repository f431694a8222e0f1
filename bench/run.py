"""``python -m bench.run [--quick] [--profile] [--only ...]``: every benchmark in one command.

bellwire and two baselines (a ``websockets`` broadcast server and a Node ``ws`` one) run as
separate processes pinned to one core; this process, the load generator, is pinned to another.
Prints a table and writes JSON (``bench/results/latest.json``). ``--quick`` runs small sizes
and checks only that each scenario produced numbers (CI); the full run compares with targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, receivers, scenarios, targets
from bench.ab import export_ref
from bench.profile import record as profile_record
from bench.scenarios import FULL, QUICK, Sizes, quick_verdict

RESULTS = Path(__file__).resolve().parent / "results"
# Counting sockets wake the load generator once this many frames wait (full speed only).
LOWAT_FRAMES = 8
# Connects in flight per receiver process in the scale scenario, the same in both of its parts
# (the RSS left by a connect storm grows with the handshakes alive together). Low because
# bellwire's Redis client pools 100 connections per worker (redis-py's default) and refuses a
# connect it cannot count (docs/performance.md).
SCALE_CONCURRENCY = 16
SCENARIOS = (
    "fanout",
    "durable",
    "durable_pg",
    "many_channels",
    "memory",
    "scale",
    "storm",
    "baselines",
)


# --- the machine ------------------------------------------------------------------------------


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all cores busy over ``seconds`` (other work on a shared machine skews results)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    versions: dict[str, str] = {"python": platform.python_version()}
    for module in ("aiohttp", "websockets", "botocore", "uvloop"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[module] = version(module)
    if shutil.which("node"):
        with contextlib.suppress(Exception):
            versions["node"] = subprocess.run(
                ["node", "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    lock = targets.NODE_DIR / "package-lock.json"
    with contextlib.suppress(Exception):
        versions["ws (node)"] = json.loads(lock.read_text())["packages"]["node_modules/ws"][
            "version"
        ]
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "versions": versions,
    }


# --- the run ----------------------------------------------------------------------------------


class Run:
    def __init__(
        self,
        sizes: Sizes,
        only: set[str],
        profile: bool,
        workdir: Path,
        server_log_level: str = "warning",
        receiver_kinds: tuple[str, ...] = ("python",),
    ) -> None:
        self.sizes = sizes
        # Who holds the fan-out subscribers' sockets; the first is the one of the main table,
        # the others run the same fan-out again for comparison ("fanout_by_receiver").
        self.receivers = receiver_kinds
        self.fd_limit = 1 << 20  # set by main once raised
        self.server_log_level = server_log_level
        self.server_source: Path | None = None  # another checkout's bellwire/ (A/B runs)
        self.only = only
        self.profile = profile
        self.workdir = workdir
        self.server_core, self.lg_core = procs.placement()
        self.results: dict[str, Any] = {
            "fanout": {},
            "fanout_by_receiver": {},
            "durable": {},
            "durable_pg": {},
            "many_channels": {},
            "memory": {},
            "connect_storm": {},
            "profiles": {},
            "notes": [],
        }

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only

    async def fanouts(
        self, target: targets.Target, frame_bytes: int, pad: int, bellwire: bool
    ) -> None:
        """Every fan-out size with every receiver (the first receiver's figures are the main
        table's)."""
        s = self.sizes
        for kind in self.receivers:
            for size in s.fanout:
                if bellwire:
                    assert isinstance(target, targets.Bellwire)
                    target.fanout_size = size
                self.log(f"{target.name} fan-out to {size} ({kind} receiver)")
                during = (
                    self.profiler(f"fanout-{size}", target.proc.pid)
                    if bellwire and kind == self.receivers[0]
                    else None
                )
                if bellwire:
                    before = await asyncio.to_thread(scraped, target.port, WRITE_METRICS)
                data = await scenarios.fanout(
                    target,
                    size,
                    s,
                    pad=pad,
                    during=during,
                    rcvlowat=LOWAT_FRAMES * frame_bytes,
                    receiver=kind,
                )
                if bellwire:
                    after = await asyncio.to_thread(scraped, target.port, WRITE_METRICS)
                    deliveries, writes = (after[m] - before[m] for m in WRITE_METRICS)
                    # The coalescing over the whole scenario (sync, full speed and offered).
                    data["frames_per_write"] = round(deliveries / writes, 2) if writes else None
                by_kind = self.results["fanout_by_receiver"].setdefault(kind, {})
                by_kind.setdefault(target.name, {})[str(size)] = data
                if kind == self.receivers[0]:
                    self.results["fanout"].setdefault(target.name, {})[str(size)] = data

    def log(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def profiler(self, name: str, pid: int) -> Callable[[float], Awaitable[None]] | None:
        if not self.profile:
            return None

        async def during(seconds: float) -> None:
            out = RESULTS / f"profile-{name}.raw"
            self.results["profiles"][name] = await profile_record(pid, seconds, out, self.lg_core)

        return during

    async def durable_postgres(self) -> None:
        """Durable sends with the state in PostgreSQL (a database made for the run and dropped
        after it), to set against the embedded store's figures of the same run."""
        from bellwire.testing import (
            DEFAULT_POSTGRES,
            TEST_POSTGRES_ENV,
            create_database,
            drop_database,
        )

        s = self.sizes
        admin = os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES
        try:
            url = create_database(admin)
        except Exception as exc:
            if os.environ.get("BELLWIRE_TEST_SKIP_POSTGRES") == "1":
                self.results["notes"].append(f"durable_pg skipped: PostgreSQL: {exc}")
                return
            raise
        server = targets.Bellwire(
            self.workdir / "bellwire-pg-data",
            self.server_core,
            self.log_file,
            self.server_log_level,
            store=url,
            source=self.server_source,
        )
        try:
            await server.setup_fanout([], max(s.durable))
            for clients in s.durable:
                self.log(f"bellwire durable sends on PostgreSQL, {clients} clients")
                during = (
                    self.profiler(f"durable-pg-{clients}", server.proc.pid)
                    if clients == max(s.durable)
                    else None
                )
                self.results["durable_pg"][str(clients)] = await scenarios.durable_sends(
                    server, clients, s.durable_duration, during
                )
        finally:
            server.stop()
            drop_database(url)

    async def bellwire(self) -> int:
        """All bellwire scenarios; returns the frame size for the baselines."""
        s = self.sizes
        server = targets.Bellwire(
            self.workdir / "bellwire-data",
            self.server_core,
            self.log_file,
            self.server_log_level,
            source=self.server_source,
        )
        frame_bytes = 0
        try:
            server.signer.self_check(server.host)
            t0 = time.monotonic()
            await server.setup_fanout(list(s.fanout), max(s.durable))
            self.log(f"fan-out setup: {time.monotonic() - t0:.1f}s")
            probe = await scenarios.probe_frame(server)
            frame_bytes = int(probe["frame_bytes"])
            self.results["frame"] = probe
            self.log(f"bellwire message frame: {frame_bytes} bytes")
            if self.wants("fanout"):
                await self.fanouts(server, frame_bytes, pad=0, bellwire=True)
            if self.wants("durable"):
                for clients in s.durable:
                    self.log(f"bellwire durable sends, {clients} clients")
                    during = (
                        self.profiler(f"durable-{clients}", server.proc.pid)
                        if clients == max(s.durable)
                        else None
                    )
                    self.results["durable"][str(clients)] = await scenarios.durable_sends(
                        server, clients, s.durable_duration, during
                    )
            if any(self.wants(x) for x in ("many_channels", "memory", "scale", "storm")):
                t0 = time.monotonic()
                mc = await server.setup_many_channels(s.mc_users, s.mc_per_user, s.mc_channel_size)
                self.log(
                    f"many-channels setup: {len(mc.users)} users, {len(mc.channels)} channels "
                    f"in {time.monotonic() - t0:.1f}s"
                )
                self.results["many_channels_setup_seconds"] = round(time.monotonic() - t0, 1)
                if self.wants("many_channels"):
                    self.log("bellwire many channels")
                    self.results["many_channels"]["bellwire"] = await scenarios.many_channels(
                        server, mc, s
                    )
                if self.wants("memory"):
                    server.restart()
                    count = min(s.memory_sessions, len(mc.users))
                    self.log(f"bellwire idle memory, {count} sessions")
                    urls = [server.connect_target(u) for u in mc.users[:count]]
                    self.results["memory"]["bellwire"] = await scenarios.idle_memory(
                        server.port, urls, server.proc, host_header=server.host
                    )
                if self.wants("scale") and s.scale_sessions:
                    server.restart()
                    # Each side needs a descriptor per session: without the right to raise
                    # the hard limit (CAP_SYS_RESOURCE), one process holds what it allows;
                    # scale_workers() goes past it with several server processes.
                    count = min(s.scale_sessions, self.fd_limit - 1000)
                    if count < s.scale_sessions:
                        self.results["notes"].append(
                            f"idle memory at scale, one process: {count:,} sessions, not "
                            f"{s.scale_sessions:,}: the open-files limit is {self.fd_limit:,} "
                            "per process and raising it needs CAP_SYS_RESOURCE"
                        )
                    users = mc.users
                    self.log(f"bellwire idle memory at scale, {count} sessions, one process")
                    # Several sessions per user (each its own sessionId), within the per-user
                    # limit; several loopback source addresses, for the ephemeral ports.
                    urls = [server.connect_target(users[i % len(users)]) for i in range(count)]
                    if "c" in self.receivers:
                        pid = server.proc.pid
                        self.results["memory_scale"] = await scenarios.idle_memory_scale(
                            server.port,
                            urls,
                            lambda: procs.rss_kib(pid),
                            host_header=server.host,
                            sources=-(-count // 25_000),
                            per_process=self.fd_limit - 1000,
                            concurrency=SCALE_CONCURRENCY,
                            server_closes=lambda: closes_seen(server.port),
                        )
                    else:
                        self.results["memory_scale"] = await scenarios.idle_memory(
                            server.port,
                            urls,
                            server.proc,
                            host_header=server.host,
                            sources=-(-count // 25_000),
                        )
                if self.wants("storm"):
                    server.restart()
                    count = min(s.storm_sessions, len(mc.users))
                    self.log(f"bellwire connect storm, {count} sessions with prefetch")
                    urls = [
                        server.connect_target(u, **{"prefetch-on": "connect"})
                        for u in mc.users[:count]
                    ]
                    self.results["connect_storm"]["bellwire"] = await scenarios.connect_storm(
                        server.port,
                        urls,
                        server.proc,
                        s.storm_concurrency,
                        details_expected=min(s.mc_per_user, 50),
                        host_header=server.host,
                        during=self.profiler("storm", server.proc.pid),
                    )
                    server.restart()
                    self.log(f"bellwire connect storm, {count} sessions without prefetch")
                    urls = [server.connect_target(u) for u in mc.users[:count]]
                    self.results["connect_storm"][
                        "bellwire-no-prefetch"
                    ] = await scenarios.connect_storm(
                        server.port,
                        urls,
                        server.proc,
                        s.storm_concurrency,
                        details_expected=0,
                        host_header=server.host,
                        during=self.profiler("storm-no-prefetch", server.proc.pid),
                    )
        finally:
            server.stop()
        return frame_bytes

    async def baseline(self, target: targets.Baseline, frame_bytes: int) -> None:
        s = self.sizes
        pad = max(0, frame_bytes - 4 - len(scenarios.content(None, 0)))
        try:
            if self.wants("fanout"):
                await self.fanouts(target, frame_bytes, pad=pad, bellwire=False)
            if self.wants("memory"):
                target.restart()
                self.log(f"{target.name} idle memory, {s.memory_sessions} sessions")
                self.results["memory"][target.name] = await scenarios.idle_memory(
                    target.port, ["/"] * s.memory_sessions, target.proc, established_marker=None
                )
            if self.wants("storm"):
                target.restart()
                self.log(f"{target.name} connect storm, {s.storm_sessions} sessions")
                self.results["connect_storm"][target.name] = await scenarios.connect_storm(
                    target.port,
                    ["/"] * s.storm_sessions,
                    target.proc,
                    s.storm_concurrency,
                    details_expected=0,
                    established_marker=None,
                )
        finally:
            target.stop()

    async def scale_workers(self) -> None:
        """Idle memory at ``scale_sessions`` when one process cannot hold them (its open-files
        limit): ``serve --workers N`` on PostgreSQL and Redis, the sessions spread over the
        workers by the kernel (SO_REUSEPORT) and held by as many C receivers as needed. The RSS
        is that of the supervisor and its workers; Redis's growth is reported beside it."""
        from bellwire.testing import (
            DEFAULT_POSTGRES,
            TEST_POSTGRES_ENV,
            create_database,
            drop_database,
        )

        s = self.sizes
        count = s.scale_sessions
        per_process = self.fd_limit - 2500  # a worker's pools, listeners and files besides
        workers = -(-count // per_process)
        if "c" not in self.receivers:
            self.results["notes"].append(
                f"idle memory at {count:,} sessions with workers skipped: it needs the C receiver"
            )
            return
        if shutil.which("redis-server") is None:
            self.results["notes"].append(
                f"idle memory at {count:,} sessions with workers skipped: no redis-server"
            )
            return
        admin = os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES
        try:
            url = create_database(admin)
        except Exception as exc:
            self.results["notes"].append(
                f"idle memory at {count:,} sessions with workers skipped: PostgreSQL: {exc}"
            )
            return
        redis, redis_url = targets.redis_server(None, self.log_file, self.workdir)
        server: targets.Bellwire | None = None
        try:
            server = targets.Bellwire(
                self.workdir / "bellwire-scale-data",
                self.server_core,
                self.log_file,
                self.server_log_level,
                store=url,
                bus=redis_url,
                workers=workers,
                source=self.server_source,
            )
            chime = server.chime()
            try:
                app = await chime.create_app_instance("bench-scale")
            finally:
                chime.close()
            per_user = 5
            t0 = time.monotonic()
            users = await server.create_users(app, "s", -(-count // per_user), workers=16)
            self.log(f"scale setup: {len(users)} users in {time.monotonic() - t0:.1f}s")
            self.log(
                f"bellwire idle memory at scale, {count} sessions, {workers} workers "
                "on PostgreSQL and Redis"
            )
            urls = [server.connect_target(users[i % len(users)]) for i in range(count + 1)]
            pid = server.proc.pid
            redis_before = redis.rss_kib()
            try:
                result = await scenarios.idle_memory_scale(
                    server.port,
                    urls,
                    lambda: procs.tree_rss_kib(pid),
                    host_header=server.host,
                    sources=-(-count // 25_000),
                    per_process=self.fd_limit - 1000,
                    concurrency=SCALE_CONCURRENCY,
                    timeout=420.0,
                    server_closes=lambda: closes_seen(server.port),
                )
            except Exception as exc:  # a finding about the multi-node mode, not a crash
                self.results["notes"].append(
                    f"idle memory at {count:,} sessions with {workers} workers failed: {exc}"
                )
                self.results["memory_scale_workers"] = {"workers": workers, "error": str(exc)}
                return
            result["workers"] = workers
            result["server_processes"] = 1 + len(procs.descendants(pid))
            result["redis_rss_growth_kib"] = redis.rss_kib() - redis_before
            self.results["memory_scale_workers"] = result
        finally:
            if server is not None:
                server.stop()
            redis.stop()
            drop_database(url)

    async def all(self) -> None:
        self.log_file = RESULTS / "servers.log"
        frame_bytes = await self.bellwire()
        s = self.sizes
        single = _get(self.results, "memory_scale", "sessions")
        if self.wants("scale") and s.scale_sessions and (single or 0) < s.scale_sessions:
            await self.scale_workers()
        if self.wants("durable_pg"):
            await self.durable_postgres()
        if not self.wants("baselines"):
            return
        frame_bytes = frame_bytes or 300
        await self.baseline(
            targets.websockets_baseline(self.server_core, self.log_file), frame_bytes
        )
        if targets.node_available():
            targets.npm_ci()
            await self.baseline(targets.node_baseline(self.server_core, self.log_file), frame_bytes)
        else:
            self.results["notes"].append("node/npm not found: the Node ws baseline was skipped")


# --- report -----------------------------------------------------------------------------------

BASELINES = ("websockets", "node-ws")


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _by_thread(label: str, data: dict[str, Any]) -> list[tuple[str, Any, Any, Any, None]]:
    """A durable run's server CPU by thread: the event loop, and the rest (the store's writer
    and readers, whose SQL and fsync a GIL profile does not see)."""
    loop = data.get("server_loop_cpu")
    if loop is None:
        return []
    other = round(data["server_cpu"] - loop, 3)
    return [
        (f"{label}: server CPU, event loop", loop, None, None, None),
        (f"{label}: server CPU, other threads", other, None, None, None),
    ]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ratio(ours: Any, theirs: Any, lower_is_better: bool) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return "-"
    if ours == 0 or theirs == 0:
        return "-"
    ratio = theirs / ours if lower_is_better else ours / theirs
    return f"{ratio:.2f}x"


def rows(results: dict[str, Any]) -> list[tuple[str, Any, Any, Any, bool | None]]:
    """(label, bellwire, websockets, node-ws, lower_is_better or None for no ratio)."""
    out: list[tuple[str, Any, Any, Any, bool | None]] = []
    fan = results["fanout"]
    for size in sorted({k for t in fan.values() for k in t}, key=int):
        for key, label, lower in (
            (("full_speed", "deliveries_per_s"), "deliveries/s (full speed)", False),
            (("full_speed", "messages_per_s"), "messages/s (full speed)", False),
            (("full_speed", "p50_ms"), "p50 ms (full speed)", True),
            (("full_speed", "p99_ms"), "p99 ms (full speed)", True),
            (("full_speed", "max_ms"), "max ms (full speed)", True),
            (("offered", "achieved_deliveries_per_s"), "deliveries/s (offered)", None),
            (("offered", "p50_ms"), "p50 ms (offered)", True),
            (("offered", "p99_ms"), "p99 ms (offered)", True),
            (("offered", "max_ms"), "max ms (offered)", True),
            (("full_speed", "server_cpu"), "server CPU (full speed)", None),
            (("full_speed", "loadgen_cpu"), "load-gen CPU (full speed)", None),
            (("frames_per_write",), "frames per socket write (whole scenario)", None),
        ):
            values = [_get(fan, t, size, *key) for t in ("bellwire", *BASELINES)]
            out.append((f"fan-out C={size}: {label}", *values, lower))
    # The same fan-outs with the other receivers: the figures and both CPUs.
    primary = next(iter(results.get("fanout_by_receiver", {})), None)
    for kind, by_target in results.get("fanout_by_receiver", {}).items():
        if kind == primary:
            continue
        for size in sorted({k for t in by_target.values() for k in t}, key=int):
            for key, label, lower in (
                (("full_speed", "deliveries_per_s"), "deliveries/s (full speed)", False),
                (("full_speed", "server_cpu"), "server CPU (full speed)", None),
                (("full_speed", "loadgen_cpu"), "load-gen CPU (full speed)", None),
            ):
                values = [_get(by_target, t, size, *key) for t in ("bellwire", *BASELINES)]
                out.append((f"fan-out C={size}, {kind} receiver: {label}", *values, lower))
    for clients, data in results["durable"].items():
        out.append(
            (f"durable sends x{clients}: requests/s", data["requests_per_s"], None, None, None)
        )
        out.append((f"durable sends x{clients}: p99 ms", data["p99_ms"], None, None, None))
        out.append(
            (f"durable sends x{clients}: load-gen CPU", data["loadgen_cpu"], None, None, None)
        )
        out.extend(_by_thread(f"durable sends x{clients}", data))
    for clients, data in results["durable_pg"].items():
        embedded = _get(results, "durable", clients, "requests_per_s")
        rate = data["requests_per_s"]
        out.append((f"durable sends x{clients} on PostgreSQL: requests/s", rate, None, None, None))
        out.append(
            (f"durable sends x{clients} on PostgreSQL: p99 ms", data["p99_ms"], None, None, None)
        )
        out.extend(_by_thread(f"durable sends x{clients} on PostgreSQL", data))
        ratio = round(rate / embedded, 2) if rate and embedded else None
        out.append((f"durable sends x{clients}: PostgreSQL / embedded", ratio, None, None, None))
    mc = results["many_channels"].get("bellwire")
    if mc:
        out.append(("many channels: deliveries/s", mc["deliveries_per_s"], None, None, None))
        out.append(("many channels: sends/s", mc["sends_per_s"], None, None, None))
        out.append(("many channels: delivery p99 ms", mc["delivery"]["p99_ms"], None, None, None))
        out.append(("many channels: request p99 ms", mc["request_p99_ms"], None, None, None))
    storm = results["connect_storm"]
    if storm:
        values = [_get(storm, t, "established_per_s") for t in ("bellwire", *BASELINES)]
        out.append(("connect storm: established/s", *values, False))
        values = [_get(storm, t, "completed_per_s") for t in ("bellwire", *BASELINES)]
        out.append(("connect storm: with all CHANNEL_DETAILS/s", *values, False))
        values = [_get(storm, t, "to_established", "p99_ms") for t in ("bellwire", *BASELINES)]
        out.append(("connect storm: p99 ms to established", *values, True))
        plain = storm.get("bellwire-no-prefetch")
        if plain:
            values = [
                plain["established_per_s"],
                *(_get(storm, t, "established_per_s") for t in BASELINES),
            ]
            out.append(("connect storm, no prefetch: established/s", *values, False))
            values = [
                plain["to_established"]["p99_ms"],
                *(_get(storm, t, "to_established", "p99_ms") for t in BASELINES),
            ]
            out.append(("connect storm, no prefetch: p99 ms", *values, True))
    memory = results["memory"]
    if memory:
        values = [_get(memory, t, "kib_per_session") for t in ("bellwire", *BASELINES)]
        out.append(("idle memory: KiB per session", *values, True))
    for scale_key in ("memory_scale", "memory_scale_workers"):
        scale = results.get(scale_key)
        if not scale or "error" in scale:
            continue
        n = f"{scale['sessions']:,} sessions"
        if scale.get("workers"):
            n += f" ({scale['workers']} workers)"
        out.append(
            (
                f"idle memory at {n}: KiB per session",
                scale["kib_per_session"],
                None,
                None,
                None,
            )
        )
        out.append(
            (
                f"idle memory at {n}: seconds to establish",
                scale["seconds_to_establish"],
                None,
                None,
                None,
            )
        )
        for side, field in (("receivers", "close_codes"), ("server", "server_closes")):
            ended = scale.get(field) or {}
            if ended:
                listed = ", ".join(f"{code} x{count}" for code, count in sorted(ended.items()))
                out.append(
                    (f"idle memory at {n}: ended, as the {side} saw it", listed, None, None, None)
                )
    return out


def table(results: dict[str, Any]) -> str:
    header = ("scenario / metric", "bellwire", "websockets", "node ws", "vs websockets", "vs node")
    body = []
    for label, ours, ws, node, lower in rows(results):
        body.append(
            (
                label,
                _fmt(ours),
                _fmt(ws),
                _fmt(node),
                _ratio(ours, ws, lower) if lower is not None else "",
                _ratio(ours, node, lower) if lower is not None else "",
            )
        )
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for row in body:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def target(name: str, value: Any, goal: str, met: bool | None) -> None:
        found.append({"target": name, "value": value, "goal": goal, "met": met})

    fan = results["fanout"]
    for size, data in fan.get("bellwire", {}).items():
        ours = data["full_speed"]["deliveries_per_s"]
        for base, factor in (("websockets", 3), ("node-ws", 2)):
            theirs = _get(fan, base, size, "full_speed", "deliveries_per_s")
            ratio = round(ours / theirs, 2) if theirs else None
            target(
                f"fan-out C={size} deliveries/s vs {base}",
                ratio,
                f">= {factor}x",
                None if ratio is None else ratio >= factor,
            )
        if size == "1000":
            target(
                "fan-out C=1000 deliveries/s",
                ours,
                ">= 1,000,000/s",
                ours >= 1_000_000,
            )
        p99 = data["offered"]["p99_ms"]
        offered = data["offered"]["offered_deliveries_per_s"]
        target(
            f"fan-out C={size} p99 at {offered:,} deliveries/s (ms)",
            p99,
            "<= 10 ms",
            None if p99 is None else p99 <= 10,
        )
    storm = _get(results, "connect_storm", "bellwire", "established_per_s")
    target(
        "sessions established/s with prefetch",
        storm,
        ">= 3,000/s",
        None if storm is None else storm >= 3000,
    )
    bare = _get(results, "connect_storm", "bellwire-no-prefetch", "established_per_s")
    target(
        "sessions established/s without prefetch",
        bare,
        ">= 5,000/s",
        None if bare is None else bare >= 5000,
    )
    durable = results["durable"]
    top = max(durable, key=int) if durable else None
    rate = durable[top]["requests_per_s"] if top else None
    target(
        f"durable SendChannelMessage/s at {top} clients",
        rate,
        ">= 5,000/s",
        None if rate is None else rate >= 5000,
    )
    pg = _get(results, "durable_pg", "64", "requests_per_s")
    target(
        "durable SendChannelMessage/s at 64 clients on PostgreSQL",
        pg,
        ">= 3,000/s",
        None if pg is None else pg >= 3000,
    )
    memory = _get(results, "memory", "bellwire", "kib_per_session")
    target(
        "server KiB per idle session", memory, "<= 6 KiB", None if memory is None else memory <= 6
    )
    return found


def quick_check(results: dict[str, Any], sizes: Sizes, only: set[str]) -> list[str]:
    """What --quick asserts: every scenario that ran produced numbers."""
    problems = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    names = ["bellwire", *(["websockets", "node-ws"] if not only or "baselines" in only else [])]
    if "node-ws" in names and not targets.node_available():
        names.remove("node-ws")
    for name in names:
        if not only or "fanout" in only:
            for size in sizes.fanout:
                data = _get(results, "fanout", name, str(size))
                need(
                    bool(data and data["full_speed"]["deliveries_per_s"] > 0),
                    f"{name} fan-out {size}: no deliveries",
                )
                need(
                    bool(data and data["offered"]["p99_ms"] is not None),
                    f"{name} fan-out {size}: no latency",
                )
        if not only or "memory" in only:
            need(_get(results, "memory", name, "rss_after_kib") is not None, f"{name}: no memory")
        if not only or "storm" in only:
            done = _get(results, "connect_storm", name, "completed")
            need(bool(done), f"{name}: no connect storm sessions")
    if not only or "durable" in only:
        for clients in sizes.durable:
            rate = _get(results, "durable", str(clients), "requests_per_s")
            need(bool(rate), f"durable x{clients}: no requests")
    if (not only or "durable_pg" in only) and os.environ.get("BELLWIRE_TEST_SKIP_POSTGRES") != "1":
        for clients in sizes.durable:
            rate = _get(results, "durable_pg", str(clients), "requests_per_s")
            need(bool(rate), f"durable on PostgreSQL x{clients}: no requests")
    if not only or "many_channels" in only:
        need(
            bool(_get(results, "many_channels", "bellwire", "deliveries_per_s")),
            "many channels: no deliveries",
        )
    return problems


WRITE_METRICS = ("bellwire_deliveries_total", "bellwire_session_writes_total")


def scraped(port: int, names: tuple[str, ...]) -> dict[str, float]:
    """Values of bellwire's /metrics (0 for a metric it does not have)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in values:
            values[name] = float(value)
    return values


def closes_seen(port: int) -> dict[str, int]:
    """The server's own count of ended sessions, by who closed and close code
    (``bellwire_session_closes_total``; with workers, every worker's)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    closes: dict[str, int] = {}
    prefix = "bellwire_session_closes_total{"
    for line in text.splitlines():
        if line.startswith(prefix):
            labels, _, value = line[len(prefix) :].partition("} ")
            fields = dict(part.split("=", 1) for part in labels.split(","))
            key = f"{fields['initiator'].strip(chr(34))} {fields['code'].strip(chr(34))}"
            closes[key] = closes.get(key, 0) + int(float(value))
    return closes


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, no targets (CI)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server (fan-out, durable)"
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--server-log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="bellwire's --log-level; 'info' adds its access line per REST request",
    )
    parser.add_argument(
        "--receiver",
        default="auto",
        help="who holds the fan-out subscribers' sockets: auto (C when gcc is found), c or "
        "python; a comma-separated list runs the fan-outs once with each, the first in the "
        "main table",
    )
    parser.add_argument(
        "--scale-sessions",
        type=int,
        default=None,
        help="idle sessions of the scale scenario (default: 50,000 in a full run)",
    )
    parser.add_argument(
        "--server-ref",
        default="",
        help="run the server from this git ref's bellwire/ (exported with git archive) instead "
        "of the checkout's, for A/B comparisons in one sitting",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "latest.json", help="output file")
    args = parser.parse_args(argv)
    only = {x.strip() for x in args.only.split(",") if x.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    sizes = QUICK if args.quick else FULL
    if args.scale_sessions is not None:
        sizes = dataclasses.replace(sizes, scale_sessions=args.scale_sessions)
    try:
        kinds = [receivers.resolve(x.strip()) for x in args.receiver.split(",") if x.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    receiver_kinds = tuple(dict.fromkeys(kinds)) or ("python",)
    if "c" in receiver_kinds:
        receivers.build()  # before the clock starts; an error here is the compiler's

    procs.install_cleanup()
    fd_limit = procs.raise_fd_limit(2 * sizes.scale_sessions + 10_000)
    RESULTS.mkdir(parents=True, exist_ok=True)
    busy = cpu_busy(0.5 if args.quick else 1.0)
    workdir = Path(tempfile.mkdtemp(prefix="bellwire-bench-"))
    run = Run(sizes, only, args.profile, workdir, args.server_log_level, receiver_kinds)
    run.fd_limit = fd_limit
    if args.server_ref:
        run.server_source = export_ref(args.server_ref, workdir / "server-source")
    procs.pin_self(run.lg_core)
    info = machine()
    run.log(
        f"{info['nproc']} cores ({info['cpu_model']}), server on core {run.server_core}, "
        f"load generator on core {run.lg_core}; CPU busy before start: {busy:.0%}; "
        f"fan-out receiver: {', '.join(receiver_kinds)}"
    )
    if busy > 0.15:
        run.results["notes"].append(
            f"the machine was {busy:.0%} busy before the run: other work skews these figures"
        )
        run.log("warning: the machine is busy; results will be noisy")
    if sizes.storm_sessions + 100 > fd_limit or sizes.memory_sessions + 100 > fd_limit:
        raise SystemExit(f"open-files limit {fd_limit} is too low for this run")

    try:
        import uvloop

        runner: Callable[[Any], Any] = uvloop.run
        loop_name = "uvloop"
    except ImportError:
        runner = asyncio.run
        loop_name = "asyncio"
    started = time.monotonic()
    failure: BaseException | None = None
    try:
        runner(run.all())
    except BaseException as exc:
        failure = exc
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    results = run.results
    results["meta"] = {
        "command": " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])]),
        "quick": sizes.quick,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": info,
        "cpu_busy_before": busy,
        "server_core": run.server_core,
        "loadgen_core": run.lg_core,
        "loadgen_loop": loop_name,
        "receivers": list(receiver_kinds),
        "sizes": sizes.__dict__,
        "server_log_level": args.server_log_level,
        "error": repr(failure) if failure else None,
    }
    if not sizes.quick:
        results["targets"] = check_targets(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    print()
    print(table(results))
    for note in results["notes"]:
        print(f"note: {note}")
    if not sizes.quick:
        print()
        for t in results["targets"]:
            verdict = {True: "met", False: "NOT MET", None: "n/a"}[t["met"]]
            print(f"target {t['target']}: {_fmt(t['value'])} (goal {t['goal']}): {verdict}")
    print(f"\nJSON: {args.json}  ({elapsed:.0f}s)")
    if failure is not None:
        if isinstance(failure, KeyboardInterrupt | SystemExit):
            raise failure
        raise failure
    if sizes.quick:
        return quick_verdict(quick_check(results, sizes, only), "every scenario produced numbers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
