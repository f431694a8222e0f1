"""``python -m bench.channel_positions [--channels N] [--rounds R]``: the cost of one position
check (``gateway/positions.py``): a node following N channels reads their positions from the
store in one read transaction and compares them with what its hub applied.

Both engines in one run, alternated (PG, SQLite, SQLite, PG, ...) so that noise falls on both:
each with 5 x N channels in the table, N of them followed. Prints the median and worst time of a
check per engine and its fraction of the default ``channel_check_seconds`` (5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bellwire.gateway import positions
from bellwire.records.chime import Channel
from bellwire.store.base import IamTx
from bellwire.store.engines import open_store
from bellwire.testing import temporary_database

INTERVAL = 5.0


def _fill(arns: list[str]) -> Any:
    def fill(tx: IamTx) -> None:
        for i, arn in enumerate(arns):
            tx.insert_channel(
                Channel(arn, "arn:app", "n", "RESTRICTED", "PRIVATE", None, "u", 1.0, 1.0, None, i)
            )

    return fill


async def _prepare(url: str, path: Path, total: int) -> Any:
    store = open_store(url, path, synchronous="NORMAL", readers=2, writers=1, max_batch=256)
    arns = [f"arn:aws:chime:us-east-1:1:app-instance/a/channel/{i:08x}" for i in range(total)]
    for start in range(0, total, 2000):
        await store.write(_fill(arns[start : start + 2000]))
    return store


async def _check(store: Any, followed: dict[str, int]) -> float:
    began = time.perf_counter()
    asked = positions.comparable(followed)
    stored = await store.read(lambda tx: tx.channel_positions(asked))
    suspects = positions.behind(followed, stored)
    elapsed = time.perf_counter() - began
    assert not suspects
    return elapsed


async def main(channels: int, rounds: int) -> None:
    total = 5 * channels
    with tempfile.TemporaryDirectory() as tmp, temporary_database() as url:
        stores = {
            "postgresql": await _prepare(url, Path(tmp) / "unused.db", total),
            "sqlite": await _prepare("", Path(tmp) / "bench.db", total),
        }
        # Every fifth channel followed, at the position the table holds.
        arns = [f"arn:aws:chime:us-east-1:1:app-instance/a/channel/{i:08x}" for i in range(total)]
        followed = {arn: i for i, arn in enumerate(arns) if i % 5 == 0}
        times: dict[str, list[float]] = {name: [] for name in stores}
        order = ["postgresql", "sqlite", "sqlite", "postgresql"]
        for name in stores:  # warm the caches and the readers once
            await _check(stores[name], followed)
        for r in range(rounds):
            for name in order if r % 2 == 0 else reversed(order):
                times[name].append(await _check(stores[name], followed))
        for store in stores.values():
            await store.close()
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name:10s} {channels} channels: median {median * 1000:.1f} ms, "
            f"worst {max(samples) * 1000:.1f} ms, {median / INTERVAL:.2%} of {INTERVAL:.0f} s"
        )
    ratio = statistics.median(times["postgresql"]) / statistics.median(times["sqlite"])
    print(f"postgresql / sqlite: {ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.channels, args.rounds))
