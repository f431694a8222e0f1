"""Invoking channel flow processors: the asyncio side of ``domain/flows.py``.

Once a write that made a message PENDING is committed, its invocation is handed here: the
processor's Lambda ARN is looked up in the ``[resources]`` map, the Lambda input event is POSTed
through the one webhook caller (signed, with a timeout and bounded retries), each in its own
task, so that a slow or dead processor holds only its own messages: never the caller's request
(which has answered PENDING already), another channel, or the event loop. An invocation that
cannot be made (no mapping, every attempt failed, too many in flight) ends at once with its
processor's FallbackAction, in a write of its own.

When a processor could not be invoked, the EventBridge event AWS emits for it ("Chime ChannelFlow
Processing Status", ``ProcessorInvocationFailure``) is POSTed through the same caller to the URL
the ``[resources]`` map gives for the account's default event bus, if it has one; otherwise the
failure is only logged and counted. The event is a row of the store, written in the commit that
applies the FallbackAction, and deleted once the URL accepted it: at least once, across restarts.
A delivery that fails is tried again on the next sweep (and at start), up to
``flows.FAILURE_EVENT_DELIVERIES`` deliveries; then, or when the receiver refuses it (a 4xx but
429), or when the bus is not mapped any more, it is dropped and counted lost. A delivery claims
its row for ``_hold`` seconds, so that nodes sharing a store do not deliver one event together.

Durability: invocations are rows of the store, written with the message. Once a processor
accepted one (2xx), the row says so (acceptances share a write, ``ACCEPT_DELAY`` after the
first), and from then on it waits for its callback: no node invokes it again. One not accepted
yet is its writer's to invoke for ``_hold`` seconds (its claim); past that, the writer is taken to
have stopped, and any node's sweep claims it and invokes it (at least once: a processor may see a
message twice, and its second callback with the same CallbackId answers the same). A claim
names its node, which takes its own back as it starts again (after ``kill -9``); a node alone on
its store (SQLite) claims them all then; a node that stops hands back what it was still
invoking, for the next node that looks to claim at once. A sweep also ends the
invocations whose window (``flow_callback_window_seconds``) has passed. So a restart, even
after ``kill -9``, loses no pending message and leaves none PENDING forever, and restarting a
node of several invokes nothing twice that a processor accepted.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial

from bellwire.compact_json import compact
from bellwire.domain import export, flows
from bellwire.domain.operation import AnyResult
from bellwire.records.flows import FailureEvent, FlowInvocation
from bellwire.resources import ResourceMap
from bellwire.store.base import Store, StoreClosed, StoreUnavailable
from bellwire.webhook import WebhookCaller, retryable

log = logging.getLogger("bellwire.flows")

RECOVERY_BATCH = 1000
ACCEPT_DELAY = 0.25  # seconds acceptances wait for company before their write


def _resource_of(invocation: FlowInvocation) -> str:
    return str(invocation.processor["Configuration"]["Lambda"]["ResourceArn"])


class FlowInvoker:
    def __init__(
        self,
        store: Store,
        caller: WebhookCaller,
        resources: ResourceMap,
        committed: Callable[[AnyResult], None],
        *,
        window: float,
        alone: bool = True,
        node: str = "",
        region: str = "us-east-1",
        account_id: str = "123456789012",
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._caller = caller
        self._resources = resources
        self._committed = committed
        self._window = window
        self._now = now
        self._alone = alone  # the only node on its store: what it did not invoke, nobody does
        self._node = node  # this node's name in the store's claims (the same after a restart)
        self._born = now()  # what this node claimed or wrote before this moment, a past run did
        self._tasks: dict[str, asyncio.Task[None]] = {}  # invocations by CallbackId
        self._accepted: list[str] = []  # CallbackIds accepted and not noted in the store yet
        self._noter: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()  # of failure events
        self._unsettled: set[str] = set()  # failure events claimed and not written back yet
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self.invoked = 0  # invocations accepted by their processor (2xx)
        self.fell_back = 0  # invocations ended by their FallbackAction
        self._region = region
        self._account_id = account_id
        self.failure_events = 0  # failure events the event bus's URL accepted
        self.failure_events_lost = 0  # failure events given up (refused, out of deliveries)
        # How long a claimed failure event is held by its delivery: the longest one webhook
        # call with its retries takes. Past it, the delivery's node is taken to have stopped.
        w = caller.settings
        self._hold = (w.retries + 1) * w.timeout + w.retries * w.backoff_cap + 1.0

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Invoke what a previous run left to invoke, then sweep regularly."""
        # A claim of this node's that ends before ``born + hold`` is a past run's (this run's
        # end later): taken at once, as every claim is when the node is alone; another node's
        # claim that has not ended may be a live node's.
        past = self._born + self._hold
        resumed = await self._take_over(past, past if self._alone else self._now())
        if resumed:
            log.info("resuming %d channel flow invocations left pending", resumed)
        await self._deliver_due()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _take_over(self, mine_before: float, free_before: float) -> int:
        """Claim and invoke the invocations whose invoker's claim ended before ``mine_before``
        (this node's) or ``free_before`` (another's)."""
        taken = 0
        while True:
            now = self._now()
            batch = await self._store.write(
                partial(
                    flows.claim,
                    node=self._node,
                    mine_before=mine_before,
                    free_before=free_before,
                    hold=self._hold,
                    now=now,
                    limit=RECOVERY_BATCH,
                )
            )
            for invocation in batch:
                if invocation.callback_id in self._tasks:
                    continue  # queued here for longer than its claim: still this node's
                if invocation.created < now - self._window:
                    await self._fall_back(invocation.callback_id, self._late())
                else:
                    # Queued rather than refused when over the bound: these were accepted.
                    self._spawn(invocation, wait=True)
                    taken += 1
            if len(batch) < RECOVERY_BATCH:
                return taken

    async def close(self) -> None:
        """Stop invoking: note what the processors accepted, hand back what they had not (the
        next node that looks invokes it), and leave every PENDING invocation in the store."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._noter is not None:
            self._noter.cancel()
        stopped = list(self._tasks)  # invocations cut short
        tasks = [*self._tasks.values(), *self._deliveries]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._accepted or stopped:
            # Else another node would invoke the accepted ones again, and take over the others
            # only when their claims pass (the next start of a node alone takes them anyway).
            accepted, now = list(self._accepted), self._now()
            try:
                await self._store.write(
                    partial(flows.hand_back, accepted=accepted, stopped=stopped, now=now)
                )
            except Exception:
                log.warning("could not hand back %d channel flow invocations", len(stopped))
        if self._unsettled:
            # Deliveries cut short: due again at once, so the next start need not wait for the
            # hold of their claim to pass. (After a kill -9 it must.)
            ids = list(self._unsettled)
            try:
                await self._store.write(
                    partial(flows.release_failure_events, event_ids=ids, now=self._now())
                )
            except Exception:
                log.warning("could not release %d failure events being delivered", len(ids))
        if self._sweeper is not None:
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self._caller.close()

    # --- invoking -----------------------------------------------------------------------------

    def submit(self, invocations: Sequence[FlowInvocation]) -> None:
        """Called in commit order, on the loop, right after the write that made them: never
        blocks. Over the bound on calls in flight an invocation fails at once."""
        if self._closing:
            return  # stays PENDING in the store: the next start invokes it
        for invocation in invocations:
            self._spawn(invocation, wait=False)

    def _spawn(self, invocation: FlowInvocation, *, wait: bool) -> None:
        callback_id = invocation.callback_id
        task = asyncio.get_running_loop().create_task(self._invoke(invocation, wait))
        self._tasks[callback_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(callback_id, None))

    async def _invoke(self, invocation: FlowInvocation, wait: bool) -> None:
        resource = _resource_of(invocation)
        url = self._resources.url(resource)
        if url is None:
            # The map changed since the flow was created (CreateChannelFlow refuses unmapped).
            reason = f"The processor {resource} is not mapped to a URL"
        else:
            body = compact(flows.lambda_event(invocation)).encode()
            outcome = await self._caller.post(url, body, wait=wait)
            if outcome.ok:
                self.invoked += 1
                self._accepted.append(invocation.callback_id)
                if self._noter is None or self._noter.done():
                    self._noter = asyncio.get_running_loop().create_task(self._note())
                return
            if outcome.busy:
                reason = f"The processor {resource} was not invoked: too many invocations in flight"
            else:
                reason = f"The processor {resource} could not be invoked: {outcome.error}"
        failure = self._failure_event(invocation, reason)
        if await self._fall_back(invocation.callback_id, reason, failure) and failure:
            self._spawn_delivery(failure)

    async def _note(self) -> None:
        """Note acceptances in the store, those of ``ACCEPT_DELAY`` seconds in one write."""
        while self._accepted:
            await asyncio.sleep(ACCEPT_DELAY)
            ids = list(self._accepted)
            try:
                await self._store.write(partial(flows.accept, callback_ids=ids, now=self._now()))
                del self._accepted[: len(ids)]
            except StoreClosed:
                return
            except Exception:
                # Kept for the next acceptance's write (or the close's); until then a node
                # taking them over would invoke them again: at least once, as after a crash.
                log.warning("could not note %d accepted invocations", len(self._accepted))
                return

    def _failure_event(self, invocation: FlowInvocation, reason: str) -> FailureEvent | None:
        """The EventBridge failure event for the default bus, if a URL stands for it (without
        one, the fallback's warning and counter are all there is)."""
        if self._bus_url() is None:
            return None
        now = self._now()
        event = flows.failure_event(
            invocation,
            reason,
            region=self._region,
            account_id=self._account_id,
            event_id=str(uuid.uuid4()),
            now=now,
        )
        return flows.pending_failure_event(event, now, self._hold)

    def _bus_url(self) -> str | None:
        url = self._resources.url(flows.default_event_bus(self._region, self._account_id))
        return url if url is not None and url.startswith(("http://", "https://")) else None

    async def _fall_back(
        self, callback_id: str, reason: str, failure: FailureEvent | None = None
    ) -> bool:
        """Whether the write was committed (with ``failure``, if given)."""
        now = self._now()
        try:
            # Staged like every write: a message its FallbackAction sends reaches the stream.
            result = await self._store.write(
                export.staged(
                    lambda tx: flows.fall_back(
                        tx, now, callback_id, reason, failure, node=self._node
                    ),
                    self._now,
                ),
                self._committed,
            )
        except StoreClosed:
            return False  # stays PENDING: the next start decides
        except Exception:
            log.exception("applying the FallbackAction of %s failed", callback_id)
            return False
        if result.output["Applied"]:  # else a callback ended it first
            self.fell_back += 1
            log.warning("channel flow callback %s: FallbackAction applied: %s", callback_id, reason)
        return True

    # --- failure events -----------------------------------------------------------------------

    async def _deliver_due(self) -> None:
        """Claim the failure events due for a delivery (left by an earlier run, or waiting for
        another try) and deliver each in a task of its own."""
        now = self._now()
        # Read first: most sweeps find nothing, and a read costs no write transaction.
        if not await self._store.read(partial(flows.due_failure_events, now=now)):
            return
        if self._bus_url() is None:
            dropped = await self._store.write(
                partial(flows.drop_failure_events, now=now, limit=RECOVERY_BATCH)
            )
            if dropped:
                self.failure_events_lost += dropped
                log.warning(
                    "%d channel flow failure events dropped: %s is not mapped to a URL any more",
                    dropped,
                    flows.default_event_bus(self._region, self._account_id),
                )
            return
        claimed, dropped = await self._store.write(
            partial(flows.claim_failure_events, now=now, hold=self._hold, limit=RECOVERY_BATCH)
        )
        if dropped:
            self.failure_events_lost += dropped
            log.warning("%d channel flow failure events dropped: out of deliveries", dropped)
        for failure in claimed:
            self._spawn_delivery(failure)

    def _spawn_delivery(self, failure: FailureEvent) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(failure))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, failure: FailureEvent) -> None:
        """One delivery of a claimed failure event: forgotten once accepted, kept for the next
        sweep (or start) while deliveries are left, else dropped and counted lost."""
        url = self._bus_url()
        if url is None:
            return  # unmapped since it was claimed: the next sweep drops it
        self._unsettled.add(failure.event_id)
        outcome = await self._caller.post(url, failure.body.encode(), wait=False)
        refused = not outcome.busy and outcome.status is not None and not retryable(outcome.status)
        verdict = flows.delivery_verdict(ok=outcome.ok, refused=refused, attempts=failure.attempts)
        try:
            await self._store.write(
                partial(
                    flows.delivered_failure_event,
                    event_id=failure.event_id,
                    verdict=verdict,
                    now=self._now(),
                )
            )
        except StoreClosed:
            return  # stays claimed: delivered again once its hold has passed
        except Exception:
            log.exception("recording the delivery of failure event %s failed", failure.event_id)
            return  # likewise
        self._unsettled.discard(failure.event_id)
        if verdict == flows.Delivery.DONE:
            self.failure_events += 1
            return
        if verdict == flows.Delivery.LOST:
            self.failure_events_lost += 1
        log.warning(
            "the failure event %s of channel flow did not reach %s (delivery %d, %s): %s",
            failure.event_id,
            flows.default_event_bus(self._region, self._account_id),
            failure.attempts,
            "dropped" if verdict == flows.Delivery.LOST else "to be tried again",
            outcome.error or f"HTTP {outcome.status}",
        )

    # --- the window ---------------------------------------------------------------------------

    def _late(self) -> str:
        return f"The processor did not call back within {self._window:g} s"

    async def _sweep(self) -> None:
        # Often enough to end what is late within a quarter of its window, and to take over
        # what a stopped node left within one claim's time.
        interval = max(0.05, min(60.0, self._window / 4, self._hold))
        while True:
            await asyncio.sleep(interval)
            try:
                moment = self._now() - self._window
                late = await self._store.read(
                    partial(flows.expired, created_before=moment, limit=RECOVERY_BATCH)
                )
                for callback_id in late:
                    await self._fall_back(callback_id, self._late())
                # Those whose invoker stopped (another node, or a write that failed here).
                now = self._now()
                await self._take_over(now, now)
                # Ended invocations answer repeated callbacks for one more window, then go.
                forget = self._now() - 2 * self._window
                # A batch a write, so that the requests' writes go on between them.
                while await self._store.write(partial(flows.forget_before, moment=forget)):
                    pass
                await self._deliver_due()
            except StoreClosed:
                return
            except StoreUnavailable as exc:
                log.warning("channel flow sweep skipped: the database does not answer: %s", exc)
            except Exception:
                log.exception("sweeping channel flow invocations failed")
