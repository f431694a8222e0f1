"""Live events in each channel's sequence order: several nodes publish at once, so events can
arrive out of order, twice, or never. The hub reorders within a window, drops what a session
already has, replays to a new session what its snapshot missed, and closes with 4410 whoever
could have missed an event that never came."""

from __future__ import annotations

import asyncio

from test_hub import CH, Transport, make, message, turn

from bellwire.domain import delivery
from bellwire.domain.delivery import CloseSessions
from bellwire.gateway import close_codes
from bellwire.gateway.frames import event_frame
from bellwire.gateway.hub import Hub, Session


def hub(window: float | None = 0.05) -> Hub:
    return Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0, reorder_window=window)


def frames(*seqs: int) -> bytes:
    return b"".join(event_frame(message(s).event) for s in seqs)


async def test_an_event_that_overtook_an_earlier_one_waits_for_it() -> None:
    h = hub(window=5.0)
    _, alice, closed = make(h, "alice")
    h.on_event(message(2))
    h.on_event(message(3))
    await turn()
    assert alice.writes == []  # 1 is missing: 2 and 3 wait
    h.on_event(message(1))
    await turn()
    assert alice.writes == [frames(1, 2, 3)] and closed == []
    assert not h._held and not h._held_timers


async def test_duplicates_are_delivered_once() -> None:
    h = hub()
    _, alice, _ = make(h, "alice")
    for seq in (1, 1, 2, 1, 2, 3):
        h.on_event(message(seq))
    await turn()
    assert alice.writes == [frames(1, 2, 3)]


async def test_a_gap_that_does_not_fill_closes_the_channels_sessions_with_4410() -> None:
    h = hub(window=0.05)
    _, alice, alice_closed = make(h, "alice")
    _, _, bob_closed = make(h, "bob")
    other = "arn:other"
    _, _, carol_closed = make(h, "carol", channels=((other, 0),))
    h.on_event(message(1))
    h.on_event(message(3))  # 2 never comes
    await asyncio.sleep(0.1)
    assert alice_closed == [(close_codes.EVENTS_MISSED, alice_closed[0][1])]
    assert bob_closed and bob_closed[0][0] == close_codes.EVENTS_MISSED
    assert carol_closed == []  # another channel: nothing missed
    assert alice.writes == [frames(1)] and h.gaps == 1
    assert CH not in h.seqs and CH not in h.channels


async def test_a_gap_also_closes_sessions_the_waiting_events_would_have_subscribed() -> None:
    h = hub(window=0.05)
    make(h, "alice")
    _, _, dave_closed = make(h, "dave", channels=())
    h.on_event(delivery.membership_created(CH, 2, {}, "dave"))  # 1 is missing
    await asyncio.sleep(0.1)
    assert dave_closed and dave_closed[0][0] == close_codes.EVENTS_MISSED


async def test_a_new_session_gets_what_the_node_applied_after_its_snapshot() -> None:
    h = hub()
    _, alice, _ = make(h, "alice", channels=((CH, 0),))
    transport = Transport()
    bob = Session("bob", "s", transport, lambda c, r: None)
    h.add(bob)
    # While bob's snapshot is read (at seq 1), the node applies 1, 2 and 3.
    for seq in (1, 2, 3):
        h.on_event(message(seq))
    h.send(bob, b"ESTABLISHED")  # as the gateway does: first, in the same loop turn
    h.establish(bob, [(CH, 1)])
    h.on_event(message(4))
    await turn()
    assert transport.writes == [b"ESTABLISHED" + frames(2, 3, 4)]
    assert alice.writes == [frames(1, 2, 3, 4)]


async def test_a_new_session_ahead_of_the_node_joins_once_the_node_catches_up() -> None:
    h = hub()
    _, alice, _ = make(h, "alice", channels=((CH, 0),))
    transport = Transport()
    bob = Session("bob", "s", transport, lambda c, r: None)
    h.add(bob)
    # bob's snapshot already holds 1 and 2, which this node has not applied yet.
    h.establish(bob, [(CH, 2)])
    for seq in (1, 2, 3):
        h.on_event(message(seq))
    await turn()
    assert transport.writes == [frames(3)]
    assert alice.writes == [frames(1, 2, 3)]


async def test_a_new_session_whose_missed_events_left_the_log_is_closed_with_4410() -> None:
    h = hub()
    make(h, "alice", channels=((CH, 0),))
    for seq in (1, 2, 3):
        h.on_event(message(seq))  # nobody connecting: not logged
    closed: list[tuple[int, str]] = []
    bob = Session("bob", "s", Transport(), lambda c, r: closed.append((c, r)))
    h.add(bob)
    h.establish(bob, [(CH, 1)])  # its snapshot predates 2 and 3, which no log holds
    assert closed and closed[0][0] == close_codes.EVENTS_MISSED


async def test_a_channel_nobody_follows_here_is_replayed_in_order_to_its_first_session() -> None:
    h = hub()
    transport = Transport()
    bob = Session("bob", "s", transport, lambda c, r: None)
    h.add(bob)
    h.on_event(message(3))  # applied while nobody here followed the channel
    h.on_event(message(2))
    h.establish(bob, [(CH, 1)])
    await turn()
    assert transport.writes == [frames(2, 3)]


async def test_close_sessions_closes_the_users_sessions_or_one_of_them() -> None:
    h = hub()
    _, _, one_closed = make(h, "alice", sid="one")
    _, two, two_closed = make(h, "alice", sid="two")
    h.on_event(CloseSessions("alice", 4419, "refresh", "one"))
    assert one_closed == [(4419, "refresh")] and two_closed == []
    h.on_event(CloseSessions("alice", 1006, "drop"))
    assert two.aborted and two_closed == []


async def test_a_lost_bus_closes_every_session_with_4410_and_forgets_the_order() -> None:
    h = hub()
    _, _, alice_closed = make(h, "alice")
    connecting_closed: list[tuple[int, str]] = []
    h.add(Session("bob", "s", Transport(), lambda c, r: connecting_closed.append((c, r))))
    h.on_event(message(1))
    h.on_event(message(3))
    h.resync_all("lost")
    assert alice_closed == [(close_codes.EVENTS_MISSED, "lost")]
    assert connecting_closed == [(close_codes.EVENTS_MISSED, "lost")]
    assert not h.seqs and not h._held and not h._held_timers


async def test_one_node_applies_an_event_after_a_skipped_number_at_once() -> None:
    """In process nothing is lost or overtaken: a skipped number was taken without an event."""
    h = hub(window=None)
    _, alice, closed = make(h, "alice")
    h.on_event(message(1))
    h.on_event(message(3))
    h.on_event(message(2))  # older than what was applied: already covered
    await turn()
    assert alice.writes == [frames(1, 3)] and closed == [] and not h._held


async def test_one_node_replays_to_a_new_session_across_a_skipped_number() -> None:
    h = hub(window=None)
    make(h, "alice", channels=((CH, 0),))
    transport = Transport()
    bob = Session("bob", "s", transport, lambda c, r: None)
    h.add(bob)
    for seq in (1, 2, 4):  # 3 was taken by a change without an event
        h.on_event(message(seq))
    h.establish(bob, [(CH, 1)])
    await turn()
    assert transport.writes == [frames(2, 4)] and not bob.closed
