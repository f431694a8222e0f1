"""The EventBridge failure events of channel flow processors on their way to the event bus:
the delivery policy (pure), and their rows through the store on each engine: written with the
FallbackAction, claimed by one delivery at a time, due again after a failure, dropped when out
of deliveries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from functools import partial

import pytest
from store_engines import Engine

from bellwire.domain import flows
from bellwire.domain.flows import FAILURE_EVENT_DELIVERIES, Delivery, delivery_verdict
from bellwire.records.flows import FailureEvent
from bellwire.store.base import Store

NOW = 1_700_000_000.0
HOLD = 11.0


@pytest.mark.parametrize(
    ("ok", "refused", "attempts", "verdict"),
    [
        (True, False, 1, Delivery.DONE),
        (True, False, FAILURE_EVENT_DELIVERIES, Delivery.DONE),
        (False, False, 1, Delivery.RETRY),
        (False, False, FAILURE_EVENT_DELIVERIES - 1, Delivery.RETRY),
        (False, False, FAILURE_EVENT_DELIVERIES, Delivery.LOST),
        (False, True, 1, Delivery.LOST),  # the receiver refuses it: again would be the same
    ],
)
def test_the_delivery_verdict(ok: bool, refused: bool, attempts: int, verdict: Delivery) -> None:
    assert delivery_verdict(ok=ok, refused=refused, attempts=attempts) == verdict


def test_the_row_keeps_the_event_as_it_will_be_posted() -> None:
    event = {"version": "0", "id": "e-1", "detail": {"messageId": "m"}}
    row = flows.pending_failure_event(event, NOW, HOLD)
    assert row == FailureEvent("e-1", '{"version":"0","id":"e-1","detail":{"messageId":"m"}}',
                               NOW, 1, NOW + HOLD)  # fmt: skip
    assert json.loads(row.body) == event


@pytest.fixture
async def store(engine: Engine) -> AsyncIterator[Store]:
    opened: Store = engine.open()
    try:
        yield opened
    finally:
        await opened.close()


async def _rows(store: Store) -> list[FailureEvent]:
    return await store.read(lambda tx: tx.due_failure_events(float("inf"), 100))


async def test_a_failed_delivery_is_due_again_and_claimed_once(store: Store) -> None:
    first = flows.pending_failure_event({"id": "e-1"}, NOW, HOLD)
    await store.write(lambda tx: tx.insert_failure_event(first))
    # Held by its first delivery: nothing is due before the hold has passed.
    claim = partial(flows.claim_failure_events, hold=HOLD, limit=10)
    assert await store.write(partial(claim, now=NOW + 1)) == ([], 0)
    # That delivery failed: due at once, and one claim (of two nodes) takes it.
    await store.write(
        partial(flows.delivered_failure_event, event_id="e-1", verdict=Delivery.RETRY, now=NOW + 2)
    )
    claimed, dropped = await store.write(partial(claim, now=NOW + 3))
    assert (claimed, dropped) == ([FailureEvent("e-1", first.body, NOW, 2, NOW + 3 + HOLD)], 0)
    assert not await store.write(lambda tx: tx.claim_failure_event("e-1", 1, NOW + 99))
    assert await _rows(store) == claimed
    # Accepted: forgotten.
    await store.write(
        partial(flows.delivered_failure_event, event_id="e-1", verdict=Delivery.DONE, now=NOW + 4)
    )
    assert await _rows(store) == []


async def test_an_event_out_of_deliveries_is_dropped(store: Store) -> None:
    spent = FailureEvent("e-2", "{}", NOW, FAILURE_EVENT_DELIVERIES, NOW)
    fresh = FailureEvent("e-3", "{}", NOW, 1, NOW)
    for e in (spent, fresh):
        await store.write(partial(lambda tx, e: tx.insert_failure_event(e), e=e))
    claimed, dropped = await store.write(
        partial(flows.claim_failure_events, now=NOW, hold=HOLD, limit=10)
    )
    assert ([e.event_id for e in claimed], dropped) == (["e-3"], 1)
    assert [e.event_id for e in await _rows(store)] == ["e-3"]


async def test_released_and_unmapped_events(store: Store) -> None:
    held = FailureEvent("e-4", "{}", NOW, 1, NOW + HOLD)
    await store.write(lambda tx: tx.insert_failure_event(held))
    await store.write(partial(flows.release_failure_events, event_ids=["e-4"], now=NOW))
    assert [e.due for e in await _rows(store)] == [NOW]
    assert await store.write(partial(flows.drop_failure_events, now=NOW, limit=10)) == 1
    assert await _rows(store) == []
