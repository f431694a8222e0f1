"""The background sweeper: retention and expiration (spec §11A.5), on one node at a time.

It sweeps once at start and then every ``sweep_interval_seconds``, reading "now" from the
server's one injectable clock (``bellwire/clock.py``): a test moves the clock and calls
:meth:`Sweeper.sweep`; a server restarted with its clock moved forward applies what is due at
its first sweep. Each unit of work handles at most ``sweep_batch`` items (the writer is never
held for long) and commits like any operation: its events are published and its stream records
staged in the outbox in the same transaction. A lease in the store (``sweeper``) lets one node
of several sharing a store sweep at a time, so an expired channel is deleted once, not once per
node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bellwire.domain import expiry, export, sub_channels
from bellwire.domain.operation import AnyResult
from bellwire.passes import run_passes
from bellwire.store.base import IamTx, Store, StoreUnavailable

log = logging.getLogger("bellwire.sweeper")

LEASE = "sweeper"
UNITS: tuple[Callable[[IamTx, float, int], expiry.Swept], ...] = (
    expiry.purge_retained,
    expiry.expire_channels,
    expiry.expire_users,
)


@dataclass(slots=True)
class Totals:
    messages: int = 0
    channels: int = 0
    users: int = 0


class Sweeper:
    def __init__(
        self,
        store: Store,
        committed: Callable[[AnyResult], None],
        *,
        node: str,
        now: Callable[[], float],
        interval: float,
        batch: int,
    ) -> None:
        self._store = store
        self._committed = committed
        self._node = node
        self._now = now
        self._interval = interval
        self._batch = batch
        self._lock = asyncio.Lock()
        self.totals = Totals()  # since start, for /metrics
        self.first_done = asyncio.Event()  # the sweep at start has ended (or failed)

    async def run(self) -> None:
        await run_passes(self._sweep_once, interval=self._interval, failed=_failed)

    async def _sweep_once(self) -> None:
        try:
            await self.sweep()
        finally:
            self.first_done.set()

    async def sweep(self) -> Totals:
        """One sweep: everything due at the clock's "now", in batches. Returns what it did
        (nothing if another node holds the sweeper's lease)."""
        async with self._lock:
            done = Totals()
            now = self._now()
            for unit in UNITS:
                while True:
                    if not await self._claim(now):
                        return done
                    swept = await self._store.write(
                        _staged(unit, now, self._batch), lambda s: self._committed(s.result)
                    )
                    done.messages += swept.messages
                    done.channels += swept.channels
                    done.users += swept.users
                    if swept.count < self._batch:
                        break
            for name in ("messages", "channels", "users"):
                setattr(self.totals, name, getattr(self.totals, name) + getattr(done, name))
            if done.messages or done.channels or done.users:
                log.info(
                    "sweep: %d messages past retention, %d channels and %d users expired",
                    done.messages,
                    done.channels,
                    done.users,
                )
            return done

    async def _claim(self, now: float) -> bool:
        node, seconds = self._node, max(60.0, 2 * self._interval)
        return await self._store.write(lambda tx: tx.claim_lease(LEASE, node, now, seconds))


def _staged(
    unit: Callable[[IamTx, float, int], expiry.Swept], now: float, batch: int
) -> Callable[[IamTx], expiry.Swept]:
    def run(tx: IamTx) -> expiry.Swept:
        swept = unit(tx, now, batch)
        sub_channels.number(tx, swept.result.events)
        swept.result.staged = export.stage(tx, now, swept.result.events, swept.result.exports)
        return swept

    return run


def _failed(exc: Exception) -> None:
    if isinstance(exc, StoreUnavailable):
        log.warning("sweep skipped: the database does not answer: %s", exc)
    else:
        log.error("sweep failed", exc_info=exc)
