"""A connect storm against the Redis bus, this checkout against another git ref (A B B A).

    .venv/bin/python -m bench.redis_storm [--base main] [--connects 10000] [--in-flight 400]

What a node's Redis side does when thousands of sessions connect at once, without the
WebSocket part (bench/run.py's scale scenario has it, at 50,000 sessions and a much longer
run): one process, one private redis-server, one ``RedisBus`` and ``RedisLimits`` as a node
builds them. ``--connects`` connects, ``--in-flight`` at a time, each taking the connect token
and the session's lease (the two scripts a real connect runs). Meanwhile the event loop is
made busy as a storm makes it: a blocking stall of 4 ping intervals every 5 (the real
storm's CPU is SigV4, policies and the snapshot read), with the pings every 0.2 s instead of
1 s so that it takes seconds. Then the leases go unrenewed for 2.5 lease times (renewals that
failed, as with "Too many connections"), and one renewal says how many sessions the node
would keep.

Reported per side: connects admitted and refused (by error), bus connections lost (each closes
a node's sessions with 4410), sessions kept after the renewal gap.

``--renewals N`` measures instead one renewal of N leases (the best of three): its wall time
and the CPU it costs the node's process.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ab import ROOT, abba, print_totals
from bench.targets import redis_server

PING = 0.2
LEASE = 1.0


async def storm(connects: int, in_flight: int) -> dict[str, Any]:
    from bellwire.bus.redis import RedisBus, RedisLimits

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = redis_server(None, Path(tmp) / "redis.log", Path(tmp))
        try:
            bus = RedisBus(url, prefix="storm", ping_interval=PING)
            limits = RedisLimits(bus, lease_seconds=LEASE)
            await bus.start()
            errors: collections.Counter[str] = collections.Counter()
            held: list[tuple[str, str, str]] = []
            gate = asyncio.Semaphore(in_flight)

            async def connect(i: int) -> None:
                user = f"arn:user/{i // 2}"
                async with gate:
                    try:
                        if not await limits.take_connect_token(user, 100.0, 100):
                            errors["rate"] += 1
                            return
                        admission = await limits.admit(user, f"s{i}", 10)
                    except Exception as exc:
                        errors[type(exc).__name__] += 1
                        return
                    held.append((user, f"s{i}", admission.lease))

            done = asyncio.Event()

            async def busy() -> None:
                while not done.is_set():
                    time.sleep(4 * PING)  # the loop does not turn: nothing is read
                    await asyncio.sleep(PING)

            hog = asyncio.get_running_loop().create_task(busy())
            started = time.monotonic()
            await asyncio.gather(*(connect(i) for i in range(connects)))
            seconds = time.monotonic() - started
            done.set()
            await hog
            await asyncio.sleep(2.5 * LEASE)  # no renewal got through meanwhile
            lost = await limits.renew(held)
            result = {
                "connects": connects,
                "admitted": len(held),
                "refused": dict(errors),
                "bus_losses": bus.losses,
                "sessions_kept": len(held) - len(lost),
                "seconds": round(seconds, 2),
            }
            await bus.close()
            return result
        finally:
            proc.stop()


async def renewals(sessions: int) -> dict[str, Any]:
    """One renewal of ``sessions`` leases (one user each), as a node renews every third of
    the lease time: its wall time and the CPU of this process (the node's event loop)."""
    from bellwire.bus.redis import RedisBus, RedisLimits

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = redis_server(None, Path(tmp) / "redis.log", Path(tmp))
        try:
            bus = RedisBus(url, prefix="storm")
            limits = RedisLimits(bus)
            gate = asyncio.Semaphore(50)

            async def admit(i: int) -> tuple[str, str, str]:
                async with gate:
                    user = f"arn:user/{i}"
                    return user, f"s{i}", (await limits.admit(user, f"s{i}", 1)).lease

            held = await asyncio.gather(*(admit(i) for i in range(sessions)))
            walls, cpus = [], []
            for _ in range(3):
                wall, cpu = time.perf_counter(), time.process_time()
                lost = await limits.renew(held)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
                assert not lost
            await bus.close()
            return {
                "sessions": sessions,
                "renew_wall_s": round(min(walls), 3),
                "renew_cpu_s": round(min(cpus), 3),
            }
        finally:
            proc.stop()


def run_side(tree: Path, connects: int, in_flight: int, renew: int) -> dict[str, Any]:
    """One run in a child whose ``bellwire`` is ``tree``'s (its working directory)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.redis_storm",
            "--child",
            "--connects",
            str(connects),
            "--in-flight",
            str(in_flight),
            "--renewals",
            str(renew),
        ],
        cwd=tree,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_storm", description=__doc__)
    parser.add_argument("--base", default="main", help="git ref of side A")
    parser.add_argument("--connects", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=400)
    parser.add_argument(
        "--renewals", type=int, default=0, help="instead: time one renewal of this many leases"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        work = renewals(args.renewals) if args.renewals else storm(args.connects, args.in_flight)
        print(json.dumps(asyncio.run(work)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = abba(
            args.base,
            Path(tmp),
            lambda tree: run_side(tree, args.connects, args.in_flight, args.renewals),
        )
    keys = (
        ("renew_wall_s", "renew_cpu_s")
        if args.renewals
        else ("admitted", "bus_losses", "sessions_kept")
    )
    print_totals(runs, keys)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
