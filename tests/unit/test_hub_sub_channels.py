"""An elastic channel's sub-channels across nodes: each numbers its own events (``sub_seq``), so
the hub orders and gap-checks each like a channel, and a member's move between two of them
takes a number of the one it joins only, so that neither side sees a hole that is not one."""

from __future__ import annotations

import asyncio

from test_hub import CH, Transport, make, turn
from test_hub_order import hub

from bellwire.domain import delivery
from bellwire.domain.delivery import ChannelEvent
from bellwire.events import EventType
from bellwire.gateway import close_codes
from bellwire.gateway.frames import event_frame
from bellwire.gateway.hub import Session

S0, S1 = f"{CH}/subchannel/s0", f"{CH}/subchannel/s1"


def msg(route: str, sub_seq: int | None, seq: int, sender: str = "alice") -> ChannelEvent:
    event = delivery.message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        route,
        seq,
        {"N": seq},
        message_type="STANDARD",
        sender=sender,
        target=None,
    )
    return event if sub_seq is None else ChannelEvent(**{**_fields(event), "sub_seq": sub_seq})


def moved(
    route: str, sub_seq: int, seq: int, member: str, source: str, left: int | None = None
) -> ChannelEvent:
    """``left``: the number ``source`` had reached at the move."""
    event = delivery.membership_moved(route, seq, {"SubChannelId": route[-2:]}, member, source)
    return ChannelEvent(**{**_fields(event), "sub_seq": sub_seq, "moved_from_seq": left})


def _fields(event: ChannelEvent) -> dict[str, object]:
    return {name: getattr(event, name) for name in ChannelEvent.__dataclass_fields__}


def frames(*events: ChannelEvent) -> bytes:
    return b"".join(event_frame(e.event) for e in events)


async def test_a_sub_channels_events_wait_for_its_own_missing_number() -> None:
    h = hub(window=5.0)
    _, alice, closed = make(h, "alice", channels=((S0, 3),))
    # The channel's numbers skip (7, 9: s1 took 8), the sub-channel's do not.
    first, second, third = msg(S0, 4, 7), msg(S0, 5, 9), msg(S0, 6, 10)
    h.on_event(first)
    h.on_event(third)  # 5 is missing: waits
    await turn()
    assert alice.writes == [frames(first)]
    h.on_event(second)
    await turn()
    assert alice.writes == [frames(first), frames(second, third)] and closed == []
    assert h.applied() == {S0: 6}


async def test_a_gap_in_one_sub_channel_closes_its_sessions_only() -> None:
    h = hub(window=0.05)
    _, _, alice_closed = make(h, "alice", channels=((S0, 0),))
    _, carol, carol_closed = make(h, "carol", channels=((S1, 0),))
    h.on_event(msg(S0, 1, 1))
    h.on_event(msg(S0, 3, 4))  # s0's 2 never comes
    h.on_event(msg(S1, 1, 2, sender="carol"))
    await asyncio.sleep(0.1)
    assert alice_closed and alice_closed[0][0] == close_codes.EVENTS_MISSED
    assert carol_closed == []  # the other sub-channel lost nothing
    assert carol.writes == [frames(msg(S1, 1, 2, sender="carol"))]
    assert h.gaps == 1 and S0 not in h.seqs


async def test_a_move_is_no_hole_on_either_side() -> None:
    h = hub(window=0.05)
    _, alice, alice_closed = make(h, "alice", channels=((S0, 2),))
    _, bob, bob_closed = make(h, "bob", channels=((S0, 2),))
    _, carol, carol_closed = make(h, "carol", channels=((S1, 5),))
    move = moved(S1, 6, 10, "bob", S0)  # s1's number 6; s0 gives none
    after_s0, after_s1 = msg(S0, 3, 11), msg(S1, 7, 12, sender="carol")
    for event in (after_s0, move, after_s1):  # s0's next event overtook the move
        h.on_event(event)
    await asyncio.sleep(0.1)
    assert alice_closed == bob_closed == carol_closed == []
    assert alice.writes == [frames(after_s0)]
    assert bob.writes == [frames(after_s0, move, after_s1)]
    assert carol.writes == [frames(after_s1)]
    assert h.applied() == {S0: 3, S1: 7} and h.gaps == 0


async def test_a_move_into_a_sub_channel_nobody_here_followed() -> None:
    h = hub(window=0.05)
    _, bob, closed = make(h, "bob", channels=((S0, 2),))
    move = moved(S1, 4, 10, "bob", S0)  # s1 had 3 events this node never needed
    h.on_event(move)
    h.on_event(msg(S1, 5, 11, sender="carol"))
    await asyncio.sleep(0.1)
    assert closed == [] and h.applied() == {S1: 5}
    assert bob.writes == [frames(move, msg(S1, 5, 11, sender="carol"))]


async def test_a_move_while_connecting_meets_a_snapshot_of_either_sub_channel() -> None:
    h = hub(window=0.05)
    before = Session("bob", "a", Transport(), lambda c, r: None)
    after = Session("bob", "b", Transport(), lambda c, r: None)
    h.add(before)
    h.add(after)
    h.on_event(moved(S1, 4, 10, "bob", S0))
    h.establish(before, [(S0, 9)])  # read before the move: s0 at its own 9
    h.establish(after, [(S1, 4)])  # read after it
    assert before.channels == after.channels == {S1}
    h.on_event(msg(S1, 5, 11))
    await asyncio.sleep(0.1)
    assert before.transport.writes == after.transport.writes == [frames(msg(S1, 5, 11))]
    assert h.gaps == 0


async def test_an_older_nodes_sub_channel_event_is_applied_as_it_comes() -> None:
    h = hub(window=0.05)
    _, alice, closed = make(h, "alice", channels=((S0, 2),))
    old = msg(S0, None, 40)  # no number of its own: the channel's 40
    h.on_event(old)
    h.on_event(msg(S0, 3, 41))
    await asyncio.sleep(0.1)
    assert closed == [] and alice.writes == [frames(old, msg(S0, 3, 41))]
    assert h.applied() == {S0: 3}


async def test_a_deleted_sub_channels_unnumbered_events_leave_no_hole() -> None:
    h = hub(window=0.05)
    _, mod, closed = make(h, "mod", channels=((S1, 2),))
    dropped = delivery.sub_channel_membership_dropped(S1, 9, {"SubChannelId": "s1"}, "mod")
    h.on_event(dropped)
    h.on_event(delivery.sub_channel_closed(S1, 10, CH, "s1"))
    await asyncio.sleep(0.1)
    assert closed == [] and mod.writes == [frames(dropped)]
    assert S1 not in h.channels and S1 not in h.seqs


async def test_a_moved_member_keeps_what_its_old_sub_channel_said_before_the_move() -> None:
    h = hub(window=5.0)
    _, alice, _ = make(h, "alice", channels=((S0, 2),))
    member, bob, bob_closed = make(h, "bob", channels=((S0, 2),))
    # s0's 3 was committed before bob's move (s0 had reached 3) but arrives after it.
    move = moved(S1, 6, 10, "bob", S0, left=3)
    before, after = msg(S0, 3, 9), msg(S0, 4, 11)
    h.on_event(move)
    assert S0 in member.channels and S1 in member.channels  # in s1 now, in s0 until its 3
    h.on_event(before)
    h.on_event(after)
    await turn()
    assert bob.writes == [frames(move, before)]  # then it left s0: not 4
    assert alice.writes == [frames(before, after)]
    assert bob_closed == [] and not h._leaving


async def test_a_moved_member_waiting_to_leave_is_closed_if_the_old_sub_channel_lost_events() -> (
    None
):
    h = hub(window=0.05)
    _, _, bob_closed = make(h, "bob", channels=((S0, 2),))
    h.on_event(moved(S1, 6, 10, "bob", S0, left=3))  # s0's 3 never comes
    h.on_event(msg(S0, 4, 11))
    await asyncio.sleep(0.1)
    assert bob_closed and bob_closed[0][0] == close_codes.EVENTS_MISSED


async def test_a_member_moved_back_before_it_left_stays() -> None:
    h = hub(window=5.0)
    member, bob, _ = make(h, "bob", channels=((S0, 2),))
    h.on_event(moved(S1, 6, 10, "bob", S0, left=3))  # waits for s0's 3 to leave s0
    h.on_event(moved(S0, 3, 12, "bob", S1, left=6))  # and comes back with s0's very 3
    back = msg(S0, 4, 13)
    h.on_event(back)
    await turn()
    assert S0 in member.channels and S1 not in member.channels and not h._leaving
    assert bob.writes[-1].endswith(frames(back))
