"""A connect storm against ``serve --workers N`` on PostgreSQL and Redis, this checkout
against another git ref (A B B A).

    .venv/bin/python -m bench.connect_storm [--base main] [--sessions 6000] [--in-flight 400]
                                            [--workers 2] [--hold 15]

bench/run.py's scale scenario, smaller and with the failures counted instead of raised: per
side a fresh database, a private redis-server and ``bellwire serve --workers N`` with
``session_lease_seconds`` 3 (renewals every second, so that a renewal gap shows within the
hold), then ``--sessions`` sessions opened by C receivers, ``--in-flight`` connects at a
time, held ``--hold`` seconds. Reported: sessions established, still open at the end, and
the close codes the receivers saw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs, receivers, targets
from bench.ab import abba, print_totals
from bench.wsclient import Totals


async def one_side(
    tree: Path, workdir: Path, sessions: int, in_flight: int, workers: int, hold: float
) -> dict[str, Any]:
    from bellwire.testing import DEFAULT_POSTGRES, create_database, drop_database

    url = create_database(os.environ.get("BELLWIRE_TEST_POSTGRES") or DEFAULT_POSTGRES)
    log = workdir / "servers.log"
    redis, redis_url = targets.redis_server(None, log, workdir)
    server: targets.Bellwire | None = None
    groups: list[Any] = []
    try:
        server = targets.Bellwire(
            workdir / f"data-{time.monotonic_ns()}",
            None,
            log,
            store=url,
            bus=redis_url,
            source=tree,
            workers=workers,
        )
        chime = server.chime()
        try:
            app = await chime.create_app_instance("storm")
        finally:
            chime.close()
        users = await server.create_users(app, "s", -(-sessions // 5), workers=8)
        paths = [server.connect_target(users[i % len(users)]) for i in range(sessions)]
        totals = Totals()
        started = time.monotonic()
        error = ""
        try:
            groups = await receivers.subscribe_spread(
                server.port,
                paths,
                totals,
                per_process=sessions,
                host_header=server.host,
                concurrency=in_flight,
                timeout=300.0,
            )
        except Exception as exc:  # some connects failed: counted below, not raised
            error = str(exc)[:200]
        seconds = time.monotonic() - started
        await asyncio.sleep(hold)
        for group in groups:
            await group.settle()
        established = sum(g.frames for g in groups)  # SESSION_ESTABLISHED: one frame each
        ended = sum(g.dropped() for g in groups)  # refused after the upgrade, or closed later
        return {
            "sessions": sessions,
            "established": established,
            "open_at_end": sessions - ended if groups else 0,
            "close_codes": {str(k): v for k, v in sorted(totals.close_codes.items())},
            "seconds_to_connect": round(seconds, 1),
            "error": error,
        }
    finally:
        for group in groups:
            await group.close()
        if server is not None:
            server.stop()
        redis.stop()
        drop_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.connect_storm", description=__doc__)
    parser.add_argument("--base", default="main", help="git ref of side A")
    parser.add_argument("--sessions", type=int, default=6000)
    parser.add_argument("--in-flight", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hold", type=float, default=15.0)
    args = parser.parse_args(argv)
    receivers.build()
    procs.install_cleanup()
    procs.raise_fd_limit(2 * args.sessions + 10_000)
    os.environ["BELLWIRE_SESSION_LEASE_SECONDS"] = "3"  # inherited by the servers
    with tempfile.TemporaryDirectory() as tmp:
        runs = abba(
            args.base,
            Path(tmp),
            lambda tree: asyncio.run(
                one_side(tree, Path(tmp), args.sessions, args.in_flight, args.workers, args.hold)
            ),
        )
    print_totals(runs, ("established", "open_at_end"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
