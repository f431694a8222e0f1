"""``python -m bench.workers [--quick] [--order 1,2,2,1]``: ``serve --workers 2`` against one.

Fan-out through signed REST on PostgreSQL (a database made for the run, dropped after) and a
private ``redis-server`` (a fresh one per run, so no run inherits another's keys): one channel of
``--subscribers`` members, each with a session held by the C receiver (bench/receivers.py), and
``--senders`` signed ``SendChannelMessage`` clients sending as fast as they are answered while
the deliveries keep up (``scenarios.closed_loop``). The same database and users serve every run;
only the server process and Redis are new. Runs go in ``--order`` (A B B A by default), so drift
of a shared machine falls on both sides.

Per run: deliveries/s and sends/s; CPU in cores of the server (supervisor and workers), the load
generator (this process, whose signing and HTTP are the publishers, plus the C receiver), Redis,
and the PostgreSQL backends of the run's database; the whole machine's busy fraction; and server
CPU per delivery and per send, which says whether a second worker costs more per unit of work
even where the machine has no core to give it. Writes ``bench/results/workers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, receivers, scenarios, targets
from bench import profile as bench_profile
from bench.wsclient import Totals

RESULTS = Path(__file__).resolve().parent / "results"
LOWAT_BYTES = 8 * 300  # about eight frames per read on the counting sockets (as bench.run)


def machine_ticks() -> tuple[int, int]:
    """(all, idle) jiffies of the machine, from the first line of /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the run's database (the server's pools)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [int(row[0]) for row in rows]


def commits(url: str) -> int:
    """Transactions committed in the run's database so far (PostgreSQL's statistics, which
    lag by up to a second: over a window of seconds, commits per send within a few %)."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += procs.cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
    return total


async def one_run(
    workers: int,
    url: str,
    state: targets.FanoutApp,
    size: int,
    sizes: scenarios.Sizes,
    workdir: Path,
    log: Path,
    profile: bool = False,
) -> dict[str, Any]:
    redis, redis_url = targets.redis_server(None, log, workdir)
    server: targets.Bellwire | None = None
    try:
        server = targets.Bellwire(
            workdir / f"data-{workers}",
            None,
            log,
            store=url,
            bus=redis_url,
            workers=workers,
        )
        server.proc.tree = True
        server.fanout = state
        server.fanout_size = size
        totals = Totals()
        t0 = time.monotonic()
        subs = await server.subscribe(size, totals, scenarios.sample_every(size), "c")
        connect_s = time.monotonic() - t0
        publishers: list[targets.Publisher] = []
        side: dict[str, float] = {}
        side_list: dict[str, list[float]] = {}
        profiles: list[dict[str, Any]] = []

        async def during(seconds: float) -> None:
            # Redis's and PostgreSQL's share over the measured window only.
            pg = await asyncio.to_thread(backend_pids, url)
            c0 = await asyncio.to_thread(commits, url)
            assert server is not None
            tree = [server.proc.pid, *procs.descendants(server.proc.pid)]
            t0 = [cpu_of([pid]) for pid in tree]
            r0, p0, m0 = redis.cpu_seconds(), cpu_of(pg), machine_ticks()
            w0 = time.monotonic()
            if profile:
                # One py-spy per serving process (the supervisor only waits), in parallel.
                serving = tree[1:] if len(tree) > 1 else tree
                found = await asyncio.gather(
                    asyncio.sleep(seconds),
                    *(
                        bench_profile.record(
                            pid, seconds, RESULTS / f"profile-workers-{workers}-{i}.raw", None
                        )
                        for i, pid in enumerate(serving)
                    ),
                )
                profiles.extend(found[1:])
            else:
                await asyncio.sleep(seconds)
            elapsed = time.monotonic() - w0
            m1 = machine_ticks()
            side["commits_per_s"] = round((await asyncio.to_thread(commits, url) - c0) / elapsed)
            # Each process's share: how evenly the kernel spread connections over the workers.
            side_list["process_cpu"] = [
                round((cpu_of([pid]) - before) / elapsed, 3)
                for pid, before in zip(tree, t0, strict=True)
            ]
            side["redis_cpu"] = round((redis.cpu_seconds() - r0) / elapsed, 3)
            side["postgres_cpu"] = round((cpu_of(pg) - p0) / elapsed, 3)
            side["postgres_backends"] = len(pg)
            side["machine_busy"] = round(1 - (m1[1] - m0[1]) / max(1, m1[0] - m0[0]), 3)

        try:
            publishers = await server.publishers(sizes.senders)
            await scenarios.sync_subscribers(publishers[0], totals, size, 0)
            full = await scenarios.closed_loop(
                publishers,
                totals,
                size,
                sizes,
                0,
                server.proc,
                during=during,
                subs=subs,
                rcvlowat=LOWAT_BYTES,
            )
            dropped = subs.dropped()
        finally:
            scenarios.close_publishers(publishers)
            await subs.close()
        processes = 1 + len(procs.descendants(server.proc.pid))
    finally:
        if server is not None:
            server.stop()
        redis.stop()
    dps, mps = full["deliveries_per_s"], full["messages_per_s"]
    if mps and "commits_per_s" in side:
        # Below 1: the store's group commit carried several sends per transaction.
        side["commits_per_send"] = round(side["commits_per_s"] / mps, 3)
    cpu = full["server_cpu"]
    ours = cpu + full["loadgen_cpu"] + side.get("redis_cpu", 0.0) + side.get("postgres_cpu", 0.0)
    if "machine_busy" in side:
        # What other work on a shared machine took from the cores over the window.
        side["others_cpu"] = round(max(0.0, side["machine_busy"] * (os.cpu_count() or 1) - ours), 3)
    return {
        "workers": workers,
        "server_processes": processes,
        "connect_seconds": round(connect_s, 2),
        **full,
        **side,
        **side_list,
        **({"profiles": profiles} if profile else {}),
        "server_cpu_us_per_delivery": round(cpu / dps * 1e6, 2) if dps else None,
        "server_cpu_ms_per_send": round(cpu / mps * 1e3, 3) if mps else None,
        "sessions_dropped": dropped,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means per worker count and the ratios of two workers to one."""

    def mean(workers: int, key: str) -> float | None:
        values = [r[key] for r in runs if r["workers"] == workers and r.get(key) is not None]
        return statistics.fmean(values) if values else None

    keys = (
        "deliveries_per_s",
        "messages_per_s",
        "server_cpu",
        "loadgen_cpu",
        "receiver_cpu",
        "redis_cpu",
        "postgres_cpu",
        "machine_busy",
        "others_cpu",
        "server_runq_wait",
        "server_cpu_us_per_delivery",
        "server_cpu_ms_per_send",
        "commits_per_send",
        "p50_ms",
        "p99_ms",
    )
    counts = sorted({r["workers"] for r in runs})
    means = {str(n): {k: _round(mean(n, k)) for k in keys} for n in counts}
    if len(counts) < 2:
        return {"means": means}
    low, high = str(counts[0]), str(counts[-1])
    ratios: dict[str, float | None] = {}
    for key in keys:
        a, b = means[low][key], means[high][key]
        ratios[key] = round(b / a, 3) if a and b is not None else None
    return {"means": means, f"ratio_{counts[-1]}_vs_{counts[0]}": ratios}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def measure(
    url: str,
    order: list[int],
    size: int,
    sizes: scenarios.Sizes,
    workdir: Path,
    log: Path,
    profile: bool = False,
) -> list[dict[str, Any]]:
    # The users and the channel, made once through a one-worker node on the same database.
    redis, redis_url = targets.redis_server(None, log, workdir)
    setup = targets.Bellwire(workdir / "data-setup", None, log, store=url, bus=redis_url)
    try:
        t0 = time.monotonic()
        state = await setup.setup_fanout([size], 1)
        print(f"[workers] setup: {size} users and the channel in {time.monotonic() - t0:.1f}s")
    finally:
        setup.stop()
        redis.stop()
    runs = []
    for workers in order:
        result = await one_run(workers, url, state, size, sizes, workdir, log, profile)
        runs.append(result)
        print(
            f"[workers] --workers {workers}: {result['deliveries_per_s']:,} deliveries/s, "
            f"{result['messages_per_s']} sends/s; CPU server {result['server_cpu']}, "
            f"load-gen {result['loadgen_cpu']} (receiver {result.get('receiver_cpu')}), "
            f"redis {result.get('redis_cpu')}, postgres {result.get('postgres_cpu')}; "
            f"machine busy {result.get('machine_busy')} (others {result.get('others_cpu')}); "
            f"{result['server_cpu_us_per_delivery']} us server CPU/delivery",
            flush=True,
        )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--order", default="1,2,2,1", help="worker counts, in run order")
    parser.add_argument("--subscribers", type=int, default=0, help="fan-out size")
    parser.add_argument("--senders", type=int, default=0, help="signed REST senders")
    parser.add_argument("--duration", type=float, default=0.0, help="measured seconds per run")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy each serving process (bench/results/profile-workers-K-I.txt); "
        "the sampling takes CPU, so figures of such a run are not for comparison",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "workers.json")
    args = parser.parse_args(argv)
    from bellwire.testing import (
        DEFAULT_POSTGRES,
        TEST_POSTGRES_ENV,
        create_database,
        drop_database,
    )

    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    receivers.build()
    order = [int(n) for n in args.order.split(",")]
    base = scenarios.QUICK if args.quick else scenarios.FULL
    size = args.subscribers or (50 if args.quick else 2000)
    sizes = dataclasses.replace(
        base,
        senders=args.senders or base.senders,
        duration=args.duration or base.duration,
    )
    procs.install_cleanup()
    procs.raise_fd_limit(4 * size + 1000)
    workdir = Path(tempfile.mkdtemp(prefix="bellwire-workers-"))
    log = workdir / "servers.log"
    url = create_database(os.environ.get(TEST_POSTGRES_ENV) or DEFAULT_POSTGRES)
    try:
        runs = asyncio.run(measure(url, order, size, sizes, workdir, log, args.profile))
    except BaseException:
        if log.exists():
            print(log.read_text()[-4000:], file=sys.stderr)
        raise
    else:
        # The servers log at warning: anything there is a finding to read (kept in the JSON).
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        problems = [line for line in lines if "ERROR" in line or "Traceback" in line][:20]
        for line in problems:
            print(f"[workers] server log: {line}", file=sys.stderr)
    finally:
        drop_database(url)
        shutil.rmtree(workdir, ignore_errors=True)
    result = {
        "server_log_problems": problems,
        "subscribers": size,
        "senders": sizes.senders,
        "window_msgs": sizes.window_msgs,
        "duration": sizes.duration,
        "order": order,
        "nproc": os.cpu_count(),
        "runs": runs,
        **summarize(runs),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    ratio_key = next((k for k in result if k.startswith("ratio_")), None)
    if ratio_key:
        ratios = result[ratio_key]
        print(
            f"{ratio_key.replace('_', ' ')}: deliveries/s x{ratios['deliveries_per_s']}, "
            f"server CPU x{ratios['server_cpu']}, "
            f"server CPU per delivery x{ratios['server_cpu_us_per_delivery']}, "
            f"load-gen CPU x{ratios['loadgen_cpu']}, machine busy x{ratios['machine_busy']}"
        )
    print(f"JSON: {args.json}")
    bad = [r for r in runs if r["undelivered"] or r["sessions_dropped"] or r["sender_errors"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
