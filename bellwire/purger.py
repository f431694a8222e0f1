"""The messages and memberships of deleted channels, and the messages of deleted
sub-channels, removed in the background a batch at a time.

DeleteChannel (and DeleteAppInstance, and a channel's expiration) commits the channel's
removal at once and leaves its messages and memberships to this loop: a channel with a million
messages held the embedded engine's only writer for 13 s in one transaction, and an elastic
channel's 100,000 members for 0.7 s, every other write of the node waiting behind it. A
SCALE_IN leaves the messages of the sub-channel it deletes here too, so that the member whose
leave caused it does not wait for them. Each write removes at most ``batch`` messages or
members, so other writes pass between them. It runs at start (a node stopped mid-purge
resumes), when a commit deleted a channel or a sub-channel, and every ``interval`` seconds (a
deletion on another node). Every node may run it: two nodes purging the same channel at once
delete the same range, the second finding it gone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bellwire.passes import run_passes
from bellwire.store.base import Store, StoreUnavailable

log = logging.getLogger("bellwire.purger")

# After each write the purge waits this many times as long as the write took: a quarter of
# the writer's time at most goes to it.
PACE = 3.0


class Purger:
    def __init__(self, store: Store, *, batch: int, interval: float) -> None:
        self._store = store
        self._batch = batch
        self._interval = interval
        self._wake = asyncio.Event()
        self.batches = 0  # writes that removed messages, since start

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await run_passes(self.purge, interval=self._interval, failed=_failed, wake=self._wake)

    async def purge(self) -> int:
        """Remove every message and membership of deleted channels and every message of
        deleted sub-channels; returns the writes it took."""
        batch, writes = self._batch, 0
        while True:
            started = time.monotonic()
            if not await self._store.write(lambda tx: tx.purge_deleted_messages(batch)):
                return writes
            writes += 1
            self.batches += 1
            # Back to back, a purge would join every group commit. A write's time includes its
            # queue, so a busy node purges slower, an idle one at once.
            await asyncio.sleep(PACE * (time.monotonic() - started))


def _failed(exc: Exception) -> None:
    if isinstance(exc, StoreUnavailable):
        log.warning("purge of deleted channels skipped: the database does not answer: %s", exc)
    else:
        log.error("purge of deleted channels failed", exc_info=exc)
