"""The relay: moves the export outbox to the sinks, in id order, at least once.

Per sink (a URL of the [resources] map), one node at a time holds a lease (``export:<URL>``) and
delivers that sink's oldest records in a batch, then acknowledges them (deletes them from the
outbox). A crash between delivery and acknowledgement delivers the batch again: never lost,
never reordered, possibly repeated (consumers de-duplicate by id). With several nodes on one
shared store the lease keeps them from interleaving a sink's records; a lease outlives a
delivery's timeout several times, so a slow node's batch ends before another may take over.

A failing sink is retried with capped exponential backoff and never blocks anything but its own
records. The outbox is bounded (``export_outbox_max_records``): beyond it the oldest records are
dropped, counted and logged, so a sink that stays down cannot fill the disk.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from bellwire.export.backoff import Backoff, SinkHealth
from bellwire.export.sinks import TIMEOUT_SECONDS, Sink, SinkError, open_sink
from bellwire.log_throttle import Throttle
from bellwire.passes import run_passes
from bellwire.resources import ResourceMap
from bellwire.store.base import Store, StoreUnavailable

log = logging.getLogger("bellwire.export")

LEASE_SECONDS = 4 * TIMEOUT_SECONDS
STATE_LOG_SECONDS = 60.0
# After a wake-up, wait this long so that one pass takes the records of many writes (one read,
# one delivery, one acknowledgement for all of them) rather than one pass per write.
LINGER_SECONDS = 0.05
OBSERVE_SECONDS = 1.0  # how often the outbox's size and age are read for the metrics


class Relay:
    def __init__(
        self,
        store: Store,
        resources: ResourceMap,
        *,
        node: str,
        now: Callable[[], float],
        batch: int = 500,
        poll_seconds: float = 1.0,
        max_records: int = 1_000_000,
        backoff: Backoff | None = None,
        open_sink: Callable[[str], Sink] = open_sink,
    ) -> None:
        self._store = store
        self._resources = resources
        self._node = node
        self._now = now
        self._batch = batch
        self._poll = poll_seconds
        self._outage_log = Throttle(60.0)
        self._max_records = max_records
        self._backoff = backoff or Backoff()
        self._open_sink = open_sink
        self._sinks: dict[str, Sink] = {}
        self._health: dict[str, SinkHealth] = {}
        self._wake = asyncio.Event()
        self._last_state_log = 0.0
        self._last_observed = -OBSERVE_SECONDS
        self._leases: dict[str, float] = {}  # sink -> when our lease on it ends
        # figures for /metrics and the logs
        self.delivered = 0
        self.failures = 0
        self.dropped = 0
        self.waiting = 0
        self.lag_seconds = 0.0

    def wake(self) -> None:
        """New records may be waiting (a write committed): do not wait for the next poll."""
        self._wake.set()

    async def run(self) -> None:
        await run_passes(
            self.relay_once,
            interval=self._poll,
            failed=self._failed,
            wake=self._wake,
            linger=LINGER_SECONDS,
        )

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, StoreUnavailable):
            # Each pass of an outage meets it (one a second): a line per minute says so.
            dropped = self._outage_log.allow("store", time.monotonic())
            if dropped is not None:
                more = f" ({dropped} more passes since the last line)" if dropped else ""
                log.warning("export relay: the database does not answer: %s%s", exc, more)
        else:
            log.error("export relay pass failed", exc_info=exc)

    async def relay_once(self) -> int:
        """One pass over every sink with records waiting; returns how many were delivered.

        Stream ARNs mapped to the same URL are one sink: their records go out together in id
        order, so a channel's Channel and ChannelMessage records keep their order there too."""
        arns = await self._store.read(lambda tx: tx.outbox_sinks())
        targets: dict[str, list[str]] = {}
        for arn in arns:
            url = self._resources.url(arn)
            targets.setdefault(url if url is not None else "unmapped:" + arn, []).append(arn)
        now = self._now()
        due = [t for t in targets if self._health.setdefault(t, SinkHealth()).ready(now)]
        counts = await asyncio.gather(*(self._relay_sink(t, targets[t]) for t in due))
        # Nothing waiting and nothing known to wait: an idle server reads nothing more.
        idle = not arns and not self.waiting
        if not idle and (not arns or self._now() - self._last_observed >= OBSERVE_SECONDS):
            await self._observe()
        return sum(counts)

    async def _claim(self, target: str) -> bool:
        """Hold the sink's lease, renewed in the store once a quarter of it has run: a pass (a
        delivery is bounded by half the lease) always ends before the lease does."""
        now = self._now()
        if self._leases.get(target, 0.0) - now > LEASE_SECONDS * 0.75:
            return True
        lease, node = "export:" + target, self._node
        claimed = await self._store.write(
            lambda tx: tx.claim_lease(lease, node, now, LEASE_SECONDS)
        )
        if claimed:
            self._leases[target] = now + LEASE_SECONDS
        else:
            self._leases.pop(target, None)
        return claimed

    async def _relay_sink(self, target: str, arns: list[str]) -> int:
        health = self._health[target]
        if target.startswith("unmapped:"):
            self._fail(health, target, "the stream ARN is not mapped in [resources] any more")
            return 0
        if not await self._claim(target):
            return 0
        records = await self._store.read(lambda tx: tx.outbox_batch(arns, self._batch))
        if not records:
            return 0
        sink = self._sinks.get(target)
        try:
            if sink is None:
                sink = self._sinks[target] = self._open_sink(target)
            await asyncio.wait_for(sink.deliver(records), TIMEOUT_SECONDS * 2)
        except (SinkError, TimeoutError) as exc:
            self._fail(health, ", ".join(arns), str(exc) or type(exc).__name__)
            return 0
        last = records[-1].id
        await self._store.write(lambda tx: tx.acknowledge_outbox(arns, last))
        if health.failures:
            log.info("export to %s delivers again", ", ".join(arns))
        health.succeeded()
        self.delivered += len(records)
        return len(records)

    def _fail(self, health: SinkHealth, what: str, why: str) -> None:
        self.failures += 1
        wait = health.failed(self._now(), self._backoff, random.uniform(0.5, 1.0))
        level = (
            logging.WARNING
            if health.failures in (1, 10) or health.failures % 100 == 0
            else logging.DEBUG
        )
        log.log(
            level,
            "export to %s failed (%d in a row), next try in %.1f s: %s",
            what,
            health.failures,
            wait,
            why,
        )

    async def _observe(self) -> None:
        """Bound the outbox, refresh the lag figures, log them now and then."""
        keep = self._max_records
        dropped = (
            await self._store.write(lambda tx: tx.trim_outbox(keep)) if self.waiting >= keep else 0
        )
        if dropped:
            self.dropped += dropped
            log.error(
                "export outbox over export_outbox_max_records=%d: dropped the %d oldest records",
                keep,
                dropped,
            )
        waiting, oldest = await self._store.read(lambda tx: tx.outbox_state())
        now = self._last_observed = self._now()
        self.waiting = waiting
        self.lag_seconds = 0.0 if oldest is None else max(0.0, now - oldest)
        if waiting and now - self._last_state_log >= STATE_LOG_SECONDS:
            self._last_state_log = now
            log.info(
                "export outbox: %d records waiting, oldest %.1f s old", waiting, self.lag_seconds
            )

    async def close(self) -> None:
        sinks, self._sinks = self._sinks, {}
        for sink in sinks.values():
            await sink.close()
