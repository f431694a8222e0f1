"""The position check: which channels lost their tail (committed, never published), given what
the hub applied and what the store holds. Vectors, then the hub's side of it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_hub import CH, make, message, turn
from test_hub_order import frames, hub

from bellwire.gateway import close_codes
from bellwire.gateway.positions import behind, comparable, split, still_behind, sub_channel_keys

A, B, C = "arn:a", "arn:b", "arn:c"
SUB = "arn:e/subchannel/0123"


@pytest.mark.parametrize(
    ("applied", "stored", "expected"),
    [
        ({}, {}, {}),
        ({A: 3, B: 7}, {A: 3, B: 7}, {}),  # caught up
        ({A: 3, B: 7}, {A: 5, B: 7}, {A: 5}),  # A's 4 and 5 never came
        ({A: 3}, {}, {A: 4}),  # deleted, its DELETE_CHANNEL never came
        ({A: 9}, {A: 5}, {}),  # the store behind the hub (restored): not a loss
        ({SUB: 2}, {SUB: 2}, {}),  # a sub-channel has numbers of its own: compared too
        ({SUB: 2, C: 1}, {SUB: 4, C: 2}, {SUB: 4, C: 2}),
        ({SUB: 2}, {}, {SUB: 3}),  # deleted (SCALE_IN), its last events never came
    ],
)
def test_behind(applied: dict[str, int], stored: dict[str, int], expected: dict[str, int]) -> None:
    assert behind(applied, stored) == expected


def test_sub_channels_are_compared_and_read_per_elastic_channel() -> None:
    followed = comparable({A: 1, SUB: 4, B: 2, "arn:e/subchannel/4567": 1})
    assert sorted(followed) == sorted([A, B, SUB, "arn:e/subchannel/4567"])
    assert split(followed) == ([A, B], ["arn:e"])  # the elastic channel once
    stored = {("arn:e", "0123"): 5, ("arn:e", "89ab"): 0}
    assert sub_channel_keys(stored) == {SUB: 5, "arn:e/subchannel/89ab": 0}


@pytest.mark.parametrize(
    ("suspects", "applied", "expected"),
    [
        ({A: 5}, {A: 5}, []),  # arrived during the reorder window
        ({A: 5}, {A: 6}, []),
        ({A: 5}, {A: 4}, [A]),
        ({A: 5}, {}, []),  # nobody follows it here any more (or it was deleted meanwhile)
        ({B: 2, A: 5}, {A: 3, B: 1}, [A, B]),
    ],
)
def test_still_behind(
    suspects: dict[str, int], applied: dict[str, int], expected: list[str]
) -> None:
    assert still_behind(suspects, applied) == expected


def test_module_is_sans_io() -> None:
    code = (
        "import sys, bellwire.gateway.positions\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'asyncio', 'aiohttp', 'socket'} "
        "or (m.startswith('bellwire.') and m not in "
        "('bellwire.gateway', 'bellwire.gateway.positions'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_the_hub_reports_what_it_applied_and_resyncs_one_channel() -> None:
    h = hub(window=5.0)
    _, alice, alice_closed = make(h, "alice")
    other = "arn:other"
    _, _, carol_closed = make(h, "carol", channels=((other, 0),))
    h.on_event(message(1))
    h.on_event(message(3))  # held: 2 is missing
    await turn()
    assert h.applied() == {CH: 1, other: 0}
    h.resync_channel(CH, "its tail never arrived")
    assert alice_closed and alice_closed[0][0] == close_codes.EVENTS_MISSED
    assert carol_closed == []
    assert alice.writes == [frames(1)]
    assert h.applied() == {other: 0} and h.gaps == 1
    assert not h._held and not h._held_timers  # the held event and its timer went with it
