"""CPU of the store's read path as a connect storm uses it, in one process, no sockets.

    .venv/bin/python -m bench.read_hop [--reads 20000] [--concurrency 256] [--rounds 5]

Runs ``reads`` SqliteStore.read calls, ``concurrency`` at a time (as the storm's connects are),
each the connect's snapshot of a user who does not exist (one indexed lookup), and reports
the process CPU per read (all threads, best of ``rounds``): the cost of the hop to the reader
thread and back, which a connect pays once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bellwire.store.sqlite import SqliteStore


async def _run(store: SqliteStore, reads: int, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with semaphore:
            await store.read(
                lambda tx: tx.user(f"arn:aws:chime:us-east-1:1:app-instance/a/user/{i}")
            )

    started = time.process_time()
    await asyncio.gather(*(one(i) for i in range(reads)))
    return (time.process_time() - started) / reads


async def main_async(reads: int, concurrency: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "db.sqlite", synchronous="normal", readers=1)
        try:
            await _run(store, 1000, concurrency)  # the reader's connection, warm caches
            best = min([await _run(store, reads, concurrency) for _ in range(rounds)])
        finally:
            await store.close()
    print(f"CPU per read: {best * 1e6:.1f} us ({reads} reads, {concurrency} in flight)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.read_hop", description=__doc__)
    parser.add_argument("--reads", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.reads, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()
