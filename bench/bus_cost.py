"""The Redis bus's CPU on bursts of commits, the bus before against this one.

``python -m bench.bus_cost [--burst 8] [--bursts 500] [--rounds 6]``

A private ``redis-server`` (no persistence) and, per way, two :class:`RedisBus` nodes in this
process: node one publishes ``--bursts`` bursts of ``--burst`` commits (one message event of a
300-byte payload each, a burst in one loop turn, the next burst once node two has received the
last one), node two receives them. Timed: this process's CPU (``process_time``: both nodes'
encoding, publishing and decoding) and redis-server's (``/proc``), per commit. The ways
alternate round by round:

- ``before``: ``bellwire/bus/redis.py`` of ``--before`` (one PUBLISH per commit);
- ``new``: this one (the commits queued while a publish is in flight leave as one document).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from types import ModuleType
from typing import Any

from bellwire.bus import redis as new_bus
from bellwire.domain import delivery
from bellwire.events import EventType
from bench import procs
from bench.ab import module_at

BEFORE = "f81d53b"  # the last commit before batches were merged
CH = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"


def bus_of(revision: str) -> ModuleType | None:
    return module_at(revision, "bellwire/bus/redis.py")


class Way:
    def __init__(self, name: str, module: Any, url: str, prefix: str) -> None:
        self.name = name
        self.one = module.RedisBus(url, prefix=prefix)
        self.two = module.RedisBus(url, prefix=prefix)
        self.seen = 0
        self.two.subscribe(self._count)
        self.cpu = 0.0
        self.redis_cpu = 0.0
        self.commits = 0
        self.seq = 0

    def _count(self, message: Any) -> None:
        self.seen += 1

    async def start(self) -> None:
        await self.one.start()
        await self.two.start()

    async def round(self, bursts: int, burst: int, redis_pid: int) -> None:
        payload = {"Content": "x" * 300}
        t0, r0 = time.process_time(), procs.cpu_seconds(redis_pid)
        for _ in range(bursts):
            want = self.seen + burst
            for _ in range(burst):
                self.seq += 1
                self.one.publish(
                    [
                        delivery.message_event(
                            EventType.CREATE_CHANNEL_MESSAGE,
                            CH,
                            self.seq,
                            payload,
                            message_type="STANDARD",
                            sender="alice",
                            target=None,
                        )
                    ]
                )
            while self.seen < want:
                await asyncio.sleep(0)
        self.cpu += time.process_time() - t0
        self.redis_cpu += procs.cpu_seconds(redis_pid) - r0
        self.commits += bursts * burst

    async def close(self) -> None:
        await self.one.close()
        await self.two.close()


async def run(burst: int, bursts: int, rounds: int, before: str) -> list[Way]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = procs.free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        procs.wait_port(port, 10.0)
        url = f"redis://127.0.0.1:{port}/0"
        plan: list[tuple[str, Any]] = []
        old = bus_of(before)
        if old is not None:
            plan.append(("before", old))
        plan.append(("new", new_bus))
        ways = [Way(name, module, url, f"w{i}") for i, (name, module) in enumerate(plan)]
        for way in ways:
            await way.start()
        for r in range(rounds):
            shift = r % len(ways)
            for way in ways[shift:] + ways[:shift]:
                await way.round(bursts, burst, redis.pid)
        for way in ways:
            await way.close()
        return ways
    finally:
        redis.kill()
        redis.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_cost", description=__doc__)
    parser.add_argument("--burst", type=int, default=8, help="commits per burst")
    parser.add_argument("--bursts", type=int, default=500, help="bursts per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--before", default=BEFORE, help="git revision of the bus to compare")
    args = parser.parse_args(argv)
    ways = asyncio.run(run(args.burst, args.bursts, args.rounds, args.before))
    base = ways[0]
    print(f"bursts of {args.burst} commits, {args.rounds} rounds of {args.bursts} bursts")
    for way in ways:
        per_cpu = way.commits / way.cpu
        per_redis = way.commits / way.redis_cpu if way.redis_cpu else float("inf")
        print(
            f"  {way.name:<8} {per_cpu:>10,.0f} commits per bellwire CPU-second "
            f"(x{per_cpu / (base.commits / base.cpu):.2f}), "
            f"{per_redis:>10,.0f} per redis-server CPU-second "
            f"(x{per_redis / (base.commits / base.redis_cpu) if base.redis_cpu else 0:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
