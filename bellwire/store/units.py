"""Units of work as every engine queues them, and how their outcomes reach their callers.

An engine's writer thread runs a batch of units in one transaction and then hands each unit's
outcome back to the event loop that asked: on each loop in queue order, so that the events of one
channel are published in the order their sequence numbers were taken, the ``committed`` consumer
first and the caller after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bellwire.store.base import IamTx

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class Unit(Generic[T]):
    fn: Callable[[IamTx], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    committed: Callable[[T], None] | None
    # The unit's first read may be made ahead of it, at its batch's start, and changes
    # nothing it uses if other units' sends run between (``store/postgres.py``).
    ahead: bool = False


def live(batch: list[Unit[Any]]) -> list[Unit[Any]]:
    """The units whose callers still wait. One whose caller gave up before its batch began
    (a REST request past ``store_timeout_seconds``, a task cancelled at shutdown) is never
    run: its caller was told nothing was acknowledged, and a write nobody waits for must not
    land minutes later, when a database that froze answers again. (``cancelled()`` from the
    writer thread only reads the future's state.)"""
    return [unit for unit in batch if not unit.future.cancelled()]


# (unit, whether it succeeded, its result or its exception)
Outcome = tuple[Unit[Any], bool, Any]


def dispatch(outcomes: list[Outcome]) -> None:
    """From the writer thread: resolve each outcome on its caller's loop, in queue order."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is gone; nobody waits any more
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[Outcome]) -> None:
    for unit, ok, value in items:
        if ok and unit.committed is not None:
            try:
                unit.committed(value)
            except Exception:
                log.exception("after-commit consumer failed")
        if unit.future.done():
            continue
        if ok:
            unit.future.set_result(value)
        else:
            unit.future.set_exception(value)
