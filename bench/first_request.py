"""What the front (bellwire/front.py) costs a REST connection: this checkout against a git ref
from before the front, side by side in one run.

    .venv/bin/python -m bench.first_request [--base REF] [--this REF] [--rounds 5]
                                            [--requests 4000] [--keepalive 10000]
                                            [--slices 10] [--in-flight 1] [--quick]
    .venv/bin/python -m bench.first_request --hand-off [--requests 3000] [--rounds 5]

The listener's protocol reads the first request head of every new connection and hands
anything that is not a ``/connect`` upgrade to aiohttp with the bytes read so far. Each round
starts two fresh servers on the server's core, A (the base ref, by default the parent of the
commit that added bellwire/front.py, exported with ``git archive``) and B (this checkout, or
``--this``), and runs each scenario's requests in ``--slices`` batches per side, alternated
A B B A A B B A..., so that what the rest of the machine does falls on both alike:

- ``fresh signed``: every request on a new TCP connection: connect, one signed
  DescribeAppInstance (root), read the response, close (FIN);
- ``fresh healthz``: the same with an unsigned ``GET /healthz``;
- ``keep-alive signed``: the signed request over and over on one kept-alive connection, whose
  later heads the front never sees (the contrast: it must not move).

Reported per scenario: the server's CPU per request (utime + stime of its process over its
batches, ``/proc/PID/stat``), latency p50 and p99 (the connect included for the fresh ones),
each side's median over the rounds, each round's ratio B/A (its two servers ran side by side)
and the median of those. ``--in-flight`` fresh requests run at a time (1: latencies without queueing).
The load generator runs on uvloop, pinned to its own core as in ``bench.run``; the machine's
CPU busy fraction is sampled before each round and the server's run-queue wait during it
(other work skews the figures). ``--hand-off`` measures the front's own cost in one process
instead (``hand_off``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import quote

from bench import procs, targets
from bench.ab import RESULTS, ROOT, run_and_save, trees
from bench.rest import HttpConnection, Signer
from bench.run import cpu_busy
from bench.scenarios import latency_summary

SCENARIOS = ("fresh signed", "fresh healthz", "keep-alive signed")
METRICS = ("server_cpu_us", "p50_ms", "p99_ms")

Request = Callable[[str], tuple[str, str, list[tuple[str, str]]]]  # host -> method, target, hdrs


def before_front() -> str:
    """The parent of the commit that added bellwire/front.py."""
    git = ["git", "-C", str(ROOT), "log", "--diff-filter=A", "--format=%H"]
    added = subprocess.run(
        [*git, "--", "bellwire/front.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    if not added:
        raise SystemExit("no commit adds bellwire/front.py: pass --base")
    return added[-1] + "^"


def signed_describe(signer: Signer, app: str) -> Request:
    path = f"/app-instances/{quote(app, safe='')}"

    def build(host: str) -> tuple[str, str, list[tuple[str, str]]]:
        return "GET", path, signer.headers("GET", path, "", host, b"")

    return build


def healthz(host: str) -> tuple[str, str, list[tuple[str, str]]]:
    return "GET", "/healthz", [("host", host)]


async def requests(
    port: int, build: Request, count: int, in_flight: int, fresh: bool
) -> tuple[list[int], dict[int, int]]:
    """``count`` requests, ``in_flight`` at a time: each on a new connection closed after its
    response (``fresh``), or all of one worker's on one kept-alive connection. Returns the
    latencies (ns) and the count of each status."""
    latencies: list[int] = []
    statuses: dict[int, int] = {}

    async def worker(share: int) -> None:
        conn = HttpConnection("127.0.0.1", port)
        try:
            for _ in range(share):
                method, target, headers = build(conn.host_header)
                t0 = time.monotonic_ns()
                status, _ = await conn.request(method, target, headers, b"")
                if fresh:
                    conn.close(abort=False)
                latencies.append(time.monotonic_ns() - t0)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    shares = [count // in_flight + (k < count % in_flight) for k in range(in_flight)]
    await asyncio.gather(*(worker(n) for n in shares if n))
    return latencies, statuses


@dataclass
class Side:
    """One server of a round and what its batches have added up to, per scenario."""

    server: targets.Bellwire
    signed: Request
    cpu: dict[str, float] = field(default_factory=dict)
    wait: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, list[int]] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)

    async def batch(self, scenario: str, count: int, in_flight: int, measured: bool = True) -> None:
        build = healthz if scenario == "fresh healthz" else self.signed
        fresh = scenario.startswith("fresh")
        proc = self.server.proc
        cpu0, wait0, t0 = proc.cpu_seconds(), proc.wait_seconds(), time.monotonic()
        latencies, statuses = await requests(
            self.server.port, build, count, in_flight if fresh else 1, fresh
        )
        if not measured:
            return
        self.cpu[scenario] = self.cpu.get(scenario, 0.0) + proc.cpu_seconds() - cpu0
        self.wait[scenario] = self.wait.get(scenario, 0.0) + proc.wait_seconds() - wait0
        self.seconds[scenario] = self.seconds.get(scenario, 0.0) + time.monotonic() - t0
        self.latencies.setdefault(scenario, []).extend(latencies)
        counted = self.statuses.setdefault(scenario, {})
        for status, n in statuses.items():
            counted[status] = counted.get(status, 0) + n

    def result(self, scenario: str) -> dict[str, Any]:
        count = len(self.latencies[scenario])
        seconds = self.seconds[scenario]
        return {
            "requests": count,
            "requests_per_s": round(count / seconds, 1),
            "server_cpu_us": round(1e6 * self.cpu[scenario] / count, 1),
            **latency_summary(self.latencies[scenario]),
            "server_runq_wait": round(self.wait[scenario] / seconds, 3),
            "non_200": {str(s): n for s, n in self.statuses[scenario].items() if s != 200},
        }


async def start(source: Path, workdir: Path, core: int | None) -> Side:
    data = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
    server = targets.Bellwire(data, core, workdir / "server.log", source=source)
    chime = server.chime()
    try:
        app = await chime.create_app_instance("first-request")
    finally:
        chime.close()
    return Side(server, signed_describe(server.signer, app))


async def one_round(
    sources: dict[str, Path], workdir: Path, core: int | None, args: argparse.Namespace
) -> dict[str, list[dict[str, Any]]]:
    """Both servers side by side on the server's core, each scenario's requests in
    ``args.slices`` slices per side taken A B B A A B B A..., so that what the machine does
    meanwhile falls on both alike."""
    sides: dict[str, Side] = {}
    try:
        for name in "AB":
            sides[name] = await start(sources[name], workdir, core)
        for scenario in SCENARIOS:
            total = args.keepalive if scenario == "keep-alive signed" else args.requests
            share = max(1, total // args.slices)
            for side in sides.values():  # warm-up
                await side.batch(scenario, max(20, total // 10), args.in_flight, measured=False)
            for k in range(args.slices):
                for name in "AB" if k % 2 == 0 else "BA":
                    await sides[name].batch(scenario, share, args.in_flight)
        return {name: [{s: side.result(s) for s in SCENARIOS}] for name, side in sides.items()}
    finally:
        for side in sides.values():
            side.server.stop()
            shutil.rmtree(side.server.data_dir, ignore_errors=True)


def summarize(rounds: Sequence[dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """Per scenario and metric: each side's median over the rounds, each round's ratio B/A (its
    two servers ran side by side, so the machine's load cancels in it) and their median."""
    out: dict[str, Any] = {}
    for scenario in SCENARIOS:
        row: dict[str, Any] = {}
        for metric in METRICS:
            sides = {s: [r[scenario][metric] for one in rounds for r in one[s]] for s in "AB"}
            per_round = [
                sum(r[scenario][metric] for r in one["B"])
                / sum(r[scenario][metric] for r in one["A"])
                for one in rounds
            ]
            a, b = median(sides["A"]), median(sides["B"])
            row[metric] = {
                "A": round(a, 3),
                "B": round(b, 3),
                "A_runs": sides["A"],
                "B_runs": sides["B"],
                "ratio": round(median(per_round), 3),
                "round_ratios": [round(x, 3) for x in per_round],
            }
        out[scenario] = row
    return out


def report(results: dict[str, Any]) -> str:
    busy = results["cpu_busy"]
    wait = [
        r[s]["server_runq_wait"]
        for one in results.get("runs", [])
        for side in "AB"
        for r in one[side]
        for s in SCENARIOS
    ]
    lines = [
        f"first request of a connection, A = {results['base']}, B = {results['this']}; "
        f"{results['rounds']} round(s), batches A B B A..., {results['in_flight']} in flight",
        f"CPU busy before each round: median {median(busy):.0%}, max {max(busy):.0%}",
    ]
    if wait:  # the server runnable but not running: other work on its core during a window
        lines.append(f"server run-queue wait: median {median(wait)}, max {max(wait)} (cores)")
    lines.append(f"{'scenario':<18} {'metric':<14} {'A':>9} {'B':>9} {'B/A':>6}  rounds' B/A")
    for scenario, row in results["summary"].items():
        for metric, cell in row.items():
            spread = ", ".join(f"{x:.2f}" for x in cell["round_ratios"])
            lines.append(
                f"{scenario:<18} {metric:<14} {cell['A']:>9} {cell['B']:>9} "
                f"{cell['ratio']:>6.2f}  {spread}"
            )
    return "\n".join(lines)


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server_core, lg_core = procs.placement()
    procs.pin_self(lg_core)
    sources = trees(args.base, args.this, workdir)
    rounds: list[dict[str, list[dict[str, Any]]]] = []
    busy: list[float] = []
    for k in range(args.rounds):
        busy.append(cpu_busy(0.5))
        one = await one_round(sources, workdir, server_core, args)
        rounds.append(one)
        for side in "AB":
            brief = {
                s: (r["server_cpu_us"], r["p50_ms"], r["p99_ms"], r["server_runq_wait"])
                for s, r in one[side][0].items()
            }
            print(f"round {k + 1} {side}: busy {busy[-1]:.0%} {json.dumps(brief)}", flush=True)
    return {
        "base": args.base,
        "this": args.this or "checkout",
        "rounds": args.rounds,
        "in_flight": args.in_flight,
        "server_core": server_core,
        "loadgen_core": lg_core,
        "cpu_busy": busy,
        "summary": summarize(rounds),
        "runs": rounds,
    }


async def hand_off(count: int, rounds: int) -> dict[str, Any]:
    """The front's own cost per connection, in one process and without the rest of the server:
    fresh connections each sending one ``GET /healthz`` to aiohttp's connection made at the
    accept (A, the listener before the front) and to the front handing it over (B), A B B A,
    as process CPU per connection (the client's share is in both and cancels in B - A)."""
    from aiohttp import web

    from bellwire.connections import ConnectionGuard, GuardedServer, Limits
    from bellwire.front import Front, FrontServer
    from bellwire.gateway.request_head import Parsed

    loop = asyncio.get_running_loop()
    guard = ConnectionGuard(Limits(10.0, 10.0, 75.0, 10.0, 10_000), loop)

    async def alive(request: web.BaseRequest) -> web.StreamResponse:
        guard.begin(request)
        return web.json_response({"status": "alive"})

    async def refuse(front: Front, parsed: Parsed) -> None:
        front.drop()

    http = GuardedServer(alive, guard=guard, access_log=None)
    factories: dict[str, Callable[[], asyncio.Protocol]] = {
        "A": http,
        "B": FrontServer(http, guard, refuse),
    }
    servers = {s: await loop.create_server(f, "127.0.0.1", 0) for s, f in factories.items()}
    ports = {s: int(server.sockets[0].getsockname()[1]) for s, server in servers.items()}
    per: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for side in "AB":
            await requests(ports[side], healthz, max(20, count // 10), 1, True)  # warm-up
        for _ in range(rounds):
            for side in "ABBA":
                started = time.process_time()
                await requests(ports[side], healthz, count, 1, True)
                per[side].append(round(1e6 * (time.process_time() - started) / count, 2))
    finally:
        for server in servers.values():
            server.close()
    a, b = median(per["A"]), median(per["B"])
    pairs = range(0, len(per["A"]), 2)
    return {
        "A_us": per["A"],
        "B_us": per["B"],
        "difference_us": round(b - a, 2),
        "round_differences_us": [
            round((per["B"][i] + per["B"][i + 1] - per["A"][i] - per["A"][i + 1]) / 2, 1)
            for i in pairs
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first_request", description=__doc__)
    parser.add_argument("--base", default="", help="git ref of A (default: before the front)")
    parser.add_argument("--this", default="", help="git ref of B (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=5, help="pairs of fresh servers")
    parser.add_argument("--requests", type=int, default=4000, help="per fresh scenario")
    parser.add_argument("--keepalive", type=int, default=10_000, help="on the kept-alive one")
    parser.add_argument("--in-flight", type=int, default=1, help="fresh connections at a time")
    parser.add_argument("--slices", type=int, default=10, help="batches per side and scenario")
    parser.add_argument("--quick", action="store_true", help="one small round (seconds)")
    parser.add_argument(
        "--hand-off",
        action="store_true",
        help="only the front's own cost, in one process (hand_off): no servers, no git refs",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "first-request.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.keepalive, args.slices = 1, 200, 400, 2
    if args.hand_off:
        procs.pin_self(procs.placement()[1])
        off = asyncio.run(hand_off(args.requests, args.rounds))
        print(
            f"CPU per connection, one process: A (aiohttp from the accept) "
            f"{median(off['A_us']):.1f} us, B (the front, then aiohttp) "
            f"{median(off['B_us']):.1f} us, B - A "
            f"{off['difference_us']} us; per round B - A: {off['round_differences_us']}"
        )
        return 0
    args.base = args.base or before_front()
    try:
        import uvloop

        runner: Callable[[Any], dict[str, Any]] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return run_and_save(lambda workdir: run(args, workdir), args.json, report, runner)


if __name__ == "__main__":
    raise SystemExit(main())
