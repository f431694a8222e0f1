"""Durable sends, this checkout against another git ref, alternately in one run.

    .venv/bin/python -m bench.ab [--base main] [--this REF] [--engines sqlite,postgresql]
                                 [--clients 1,16,64] [--duration 5] [--rounds 1]

Each round runs the servers in the order A B B A (A the base ref's ``bellwire/``, exported with
``git archive``; B a copy of this checkout's, taken at the start, or ``--this`` ref's), each on a fresh database, so drift in the machine's load
falls on both sides alike. Per engine and client count it reports SendChannelMessage/s and the
server's CPU per send (its process, all threads; PostgreSQL's own backends are not counted)
with the ratio B/A. ``postgresql`` runs with a private redis-server as the bus, as a
multi-node deployment would. The load generator is ``bench.scenarios.durable_sends`` (closed
loop, one bearer per client, one channel), pinned to its own core as in ``bench.run``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from statistics import mean
from types import ModuleType
from typing import Any

from bench import procs, scenarios, targets

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def module_at(ref: str, path: str) -> ModuleType | None:
    """The Python file ``path`` as it is at ``ref``, imported as a module of its own (None when
    git cannot show it): the old side of a benchmark that compares two versions of one module."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ref}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = "bench_" + Path(path).stem + "_at_" + ref.replace("-", "_").replace("/", "_")
    file = Path(tempfile.mkdtemp(prefix="module-at-")) / (name + ".py")
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_ref(ref: str, into: Path) -> Path:
    """``ref``'s bellwire/ package in ``into`` (what the server imports first)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "bellwire"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def one_server(
    source: Path,
    engine: str,
    clients: list[int],
    duration: float,
    workdir: Path,
    core: int | None,
    bus: str,
) -> dict[int, dict[str, Any]]:
    from bellwire.testing import DEFAULT_POSTGRES, create_database, drop_database

    url = create_database(DEFAULT_POSTGRES) if engine == "postgresql" else ""
    data = Path(tempfile.mkdtemp(prefix="data-", dir=workdir))
    server = targets.Bellwire(
        data, core, workdir / "server.log", "warning", store=url, bus=bus, source=source
    )
    out: dict[int, dict[str, Any]] = {}
    try:
        await server.setup_fanout([], max(clients))
        for n in clients:
            r = await scenarios.durable_sends(server, n, duration, None)
            rate = r["requests_per_s"]
            out[n] = {
                "requests_per_s": rate,
                "server_cpu": r["server_cpu"],
                "server_cpu_ms_per_send": round(1000 * r["server_cpu"] / rate, 4) if rate else None,
                "p99_ms": r.get("p99_ms"),
                "non_2xx": r["non_2xx"],
            }
    finally:
        server.stop()
        if url:
            drop_database(url)
        shutil.rmtree(data, ignore_errors=True)
    return out


def trees(base: str, this: str, workdir: Path) -> dict[str, Path]:
    """The two sides' source trees: A ``base``'s bellwire/, B ``this`` ref's, or when ``this``
    is empty a copy of this checkout's taken now (edits made while the comparison runs do not
    reach it)."""
    b = workdir / "this"
    if this:
        export_ref(this, b)
    else:
        shutil.copytree(
            ROOT / "bellwire", b / "bellwire", ignore=shutil.ignore_patterns("__pycache__")
        )
    return {"A": export_ref(base, workdir / "base"), "B": b}


def abba(
    base: str, workdir: Path, one: Callable[[Path], dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """``one(tree)`` for base's tree (A) and this checkout's (B), in the order A B B A, so that
    drift in the machine's load falls on both sides alike; each result is printed as it comes."""
    sides = trees(base, "", workdir)
    runs: list[tuple[str, dict[str, Any]]] = []
    for side in "ABBA":
        result = one(sides[side])
        runs.append((side, result))
        print(side, json.dumps(result), flush=True)
    return runs


def print_totals(runs: list[tuple[str, dict[str, Any]]], keys: Sequence[str]) -> None:
    """Each key summed over each side's runs, with B/A."""
    for key in keys:
        totals = {s: sum(r[key] for side, r in runs if side == s) for s in "AB"}
        ratio = f"{totals['B'] / totals['A']:.2f}" if totals["A"] else "n/a (A: 0)"
        print(f"{key}: A {totals['A']}, B {totals['B']} (B/A {ratio})")


def run_and_save(
    comparison: Callable[[Path], Coroutine[Any, Any, dict[str, Any]]],
    out: Path,
    report: Callable[[dict[str, Any]], str],
    runner: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] = asyncio.run,
) -> int:
    """Run ``comparison`` in a scratch directory (the child processes stopped on every exit),
    write its results to ``out`` as JSON and print ``report`` of them."""
    procs.install_cleanup()
    procs.raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="bellwire-ab-"))
    try:
        results = runner(comparison(workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(report(results))
    print(f"JSON: {out}")
    return 0


def _ratio(b: float | None, a: float | None) -> float | None:
    return round(b / a, 2) if a and b is not None else None


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server_core, lg_core = procs.placement()
    procs.pin_self(lg_core)
    sides = trees(args.base, args.this, workdir)
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[str, Any] = {
        "base": args.base,
        "this": args.this or "checkout",
        "clients": clients,
        "engines": {},
    }
    for engine in args.engines.split(","):
        runs: dict[str, list[dict[int, dict[str, Any]]]] = {"A": [], "B": []}
        redis = None
        try:
            for _ in range(args.rounds):
                for side in "ABBA":
                    bus = ""
                    if engine == "postgresql":
                        redis, bus = targets.redis_server(None, workdir / "redis.log", workdir)
                    print(f"{engine}: {side} ({'base ' + args.base if side == 'A' else 'this'})")
                    try:
                        runs[side].append(
                            await one_server(
                                sides[side],
                                engine,
                                clients,
                                args.duration,
                                workdir,
                                server_core,
                                bus,
                            )
                        )
                    finally:
                        if redis is not None:
                            redis.stop()
                            redis = None
        finally:
            if redis is not None:
                redis.stop()
        table: dict[str, Any] = {}
        for n in clients:
            row: dict[str, Any] = {}
            for side in "AB":
                rates = [r[n]["requests_per_s"] for r in runs[side]]
                cpu = [r[n]["server_cpu_ms_per_send"] for r in runs[side] if r[n]["requests_per_s"]]
                row[side] = {
                    "requests_per_s": round(mean(rates), 1),
                    "runs": rates,
                    "server_cpu_ms_per_send": round(mean(cpu), 4) if cpu else None,
                    "non_2xx": [r[n]["non_2xx"] for r in runs[side] if r[n]["non_2xx"]],
                }
            row["rate_ratio"] = _ratio(row["B"]["requests_per_s"], row["A"]["requests_per_s"])
            row["cpu_per_send_ratio"] = _ratio(
                row["B"]["server_cpu_ms_per_send"], row["A"]["server_cpu_ms_per_send"]
            )
            table[str(n)] = row
        results["engines"][engine] = table
    return results


def report(results: dict[str, Any]) -> str:
    lines = [
        f"durable SendChannelMessage, A = {results['base']}, B = {results['this']} (mean of runs)",
        f"{'engine':<11} {'clients':>7} {'A sends/s':>10} {'B sends/s':>10} {'B/A':>6} "
        f"{'A cpu ms':>9} {'B cpu ms':>9} {'B/A':>6}",
    ]
    for engine, table in results["engines"].items():
        for n, row in table.items():
            a, b = row["A"], row["B"]
            lines.append(
                f"{engine:<11} {n:>7} {a['requests_per_s']:>10,.0f} {b['requests_per_s']:>10,.0f} "
                f"{row['rate_ratio']!s:>6} {a['server_cpu_ms_per_send']!s:>9} "
                f"{b['server_cpu_ms_per_send']!s:>9} {row['cpu_per_send_ratio']!s:>6}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__)
    parser.add_argument("--base", default="main", help="git ref to compare against")
    parser.add_argument("--this", default="", help="git ref for B (default: this checkout)")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=1, help="A B B A sequences")
    parser.add_argument("--json", type=Path, default=RESULTS / "ab-durable.json")
    args = parser.parse_args(argv)
    return run_and_save(lambda workdir: run(args, workdir), args.json, report)


if __name__ == "__main__":
    raise SystemExit(main())
