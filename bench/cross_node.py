"""``python -m bench.cross_node [--quick]``: delivery latency between nodes of one cluster.

Two ``bellwire serve`` nodes share a PostgreSQL database (created with a random name, dropped
after) and a private ``redis-server`` (a free port, no persistence). One channel; half of its
members hold a session on node A, half on node B; senders send messages through node A's
REST API at a fixed rate (an open loop: message i is due at i / rate), each stamped with the
monotonic time it was due. The figures are the latency from that stamp to the frame's
arrival, p50 and p99, for the sessions on the *other* node (B: the bus's hop) against those on
the *same* node (A), measured in the same run, so the ratio says what the bus adds. Writes JSON
to ``bench/results/cross-node.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, receivers, wsclient
from bench.rest import Chime, messages_path
from bench.scenarios import on_schedule
from bench.targets import ACCESS_KEY_ID, SECRET, Bellwire, redis_server
from bench.wsclient import Totals

RESULTS = Path(__file__).resolve().parent / "results"
SENDERS = 8
POSTGRES = os.environ.get("BELLWIRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class Node(Bellwire):
    """A bellwire node of the cluster (the fan-out target, with a store and a bus)."""

    def __init__(self, data_dir: Path, log: Path, store: str, bus: str, prefix: str) -> None:
        self.cluster_args = ["--store", store, "--bus", bus, "--bus-prefix", prefix]
        super().__init__(data_dir, None, log)

    def _start(self) -> procs.Proc:
        proc = procs.Proc(
            "bellwire",
            [
                sys.executable,
                "-m",
                "bellwire",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
                "--log-level",
                "warning",
                "--max-sessions-per-user",
                "100",
                *self.cluster_args,
            ],
            env={
                "BELLWIRE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "BELLWIRE_ROOT_SECRET_ACCESS_KEY": SECRET,
            },
            core=None,
            log=self.log,
        )
        procs.wait_port(self.port, 60.0, proc)
        return proc


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def summary(totals: Totals) -> dict[str, Any]:
    samples = totals.latencies_ns
    if not samples:
        return {"samples": 0}
    return {
        "samples": len(samples),
        "p50_ms": round(percentile(samples, 0.50), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
        "max_ms": round(max(samples) / 1e6, 3),
        "mean_ms": round(statistics.fmean(samples) / 1e6, 3),
    }


async def measure(
    a: Node, b: Node, members: int, rate: float, seconds: float, receiver: str
) -> dict[str, Any]:
    chime = a.chime()
    app = await chime.create_app_instance("bench-cross-node")
    users = await a.create_users(app, "x", members, workers=8)
    channel = await chime.create_channel(app, users[0], "cross", users[1:10])
    await chime.add_members(channel, users[0], users[10:])
    local, remote = Totals(), Totals()
    half = members // 2
    # Every session samples: with the C receiver a frame's arrival is read within microseconds
    # whatever the others do; Python clients read the sockets one after another, so the last of
    # a fan-out's frames is read later by the time the others took (a floor of ~20 ms at 200).
    on_a = await receivers.subscribe(
        receiver,
        a.port,
        [a.connect_target(users[i]) for i in range(half)],
        local,
        lambda _i: wsclient.SAMPLE,
        host_header=a.host,
    )
    try:
        on_b = await receivers.subscribe(
            receiver,
            b.port,
            [b.connect_target(users[i]) for i in range(half, members)],
            remote,
            lambda _i: wsclient.SAMPLE,
            host_header=b.host,
        )
    except BaseException:
        await on_a.close()
        raise
    path = messages_path(channel)
    try:
        await asyncio.sleep(0.5)
        # Warm both paths, then measure at the offered rate.
        for _ in range(20):
            await chime.send_message(path, users[0], wsclient.stamp())
        await asyncio.sleep(0.5)
        local.reset()
        remote.reset()
        # An open loop, as bench.run's offered fan-out: message i is due at t0 + i / rate and
        # carries its due time, so a send that waits (for a free connection or for the
        # server) counts its wait. Whichever of the senders' connections is free takes it; one
        # connection waiting for each answer could not offer the rate, and senders each on a
        # schedule of their own fire in phase: the rate would arrive as bursts.
        senders = [a.chime() for _ in range(SENDERS)]
        idle: asyncio.Queue[Chime] = asyncio.Queue()
        for sender in senders:
            idle.put_nowait(sender)
        count = max(1, int(rate * seconds))

        async def one(when_ns: int) -> None:
            sender = await idle.get()
            try:
                status = await sender.send_message(path, users[0], wsclient.stamp(when_ns))
            finally:
                idle.put_nowait(sender)
            if status not in (200, 201):
                raise RuntimeError(f"SendChannelMessage answered {status}")

        started = time.monotonic()
        try:
            await on_schedule(count, rate, one)
            sending = time.monotonic() - started
        finally:
            for sender in senders:
                sender.close()
        sent = count
        await asyncio.sleep(1.0)
    finally:
        await on_a.close()
        await on_b.close()
        chime.close()
    same, other = summary(local), summary(remote)
    return {
        "members": members,
        "messages": sent,
        # Over the sending window: the last frames arrive milliseconds after their 2xx.
        "deliveries_per_s": round((local.delivered + remote.delivered) / sending),
        "same_node": same,
        "other_node": other,
        "other_vs_same_p50": round(other["p50_ms"] / same["p50_ms"], 2)
        if same["samples"]
        else None,
        "other_vs_same_p99": round(other["p99_ms"] / same["p99_ms"], 2)
        if same["samples"]
        else None,
        "expected_deliveries": sent * members,
        "delivered": local.delivered + remote.delivered,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cross_node", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--members", type=int, default=0, help="channel members (both nodes)")
    parser.add_argument("--rate", type=float, default=0.0, help="offered messages per second")
    parser.add_argument("--seconds", type=float, default=0.0, help="measured seconds")
    parser.add_argument(
        "--receiver", default="auto", choices=receivers.KINDS, help="who holds the sessions"
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "cross-node.json")
    args = parser.parse_args(argv)
    import psycopg

    # Full: 200 members x 100 messages/s = 20,000 deliveries/s, the figure.
    members, rate, seconds = (20, 50.0, 2.0) if args.quick else (200, 100.0, 10.0)
    # A lower rate shows the latency's floor (what the path costs without queues).
    members, rate, seconds = args.members or members, args.rate or rate, args.seconds or seconds
    workdir = Path(tempfile.mkdtemp(prefix="bellwire-cross-node-"))
    procs.install_cleanup()
    name = "bellwire_bench_" + secrets.token_hex(6)
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    store = POSTGRES.rsplit("/", 1)[0] + "/" + name
    redis, bus = redis_server(None, workdir / "redis.log", workdir)
    nodes: list[Node] = []
    try:
        prefix = "bench-" + secrets.token_hex(3)
        for index in range(2):
            data_dir = workdir / f"node{index}"
            data_dir.mkdir()
            nodes.append(Node(data_dir, workdir / f"node{index}.log", store, bus, prefix))
        receiver = receivers.resolve(args.receiver)
        result = asyncio.run(measure(nodes[0], nodes[1], members, rate, seconds, receiver))
        result["receiver"] = receiver
    finally:
        for node in nodes:
            node.stop()
        redis.stop()
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    result["offered_messages_per_s"] = rate
    result["quick"] = args.quick
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    same, other = result["same_node"], result["other_node"]
    print(f"cross-node delivery, {members} members (half on each node), {rate:g} messages/s:")
    print(f"  same node : p50 {same.get('p50_ms')} ms  p99 {same.get('p99_ms')} ms")
    print(f"  other node: p50 {other.get('p50_ms')} ms  p99 {other.get('p99_ms')} ms")
    print(
        f"  other/same: p50 x{result['other_vs_same_p50']}  p99 x{result['other_vs_same_p99']}"
        f"  ({result['deliveries_per_s']} deliveries/s, "
        f"{result['delivered']}/{result['expected_deliveries']} delivered)"
    )
    print(f"JSON: {args.json}")
    return 0 if result["delivered"] >= result["expected_deliveries"] else 1


if __name__ == "__main__":
    sys.exit(main())
