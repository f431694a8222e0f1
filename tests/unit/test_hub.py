"""The fan-out's routing and output rules, driven through an in-memory transport."""

import asyncio

from bellwire.domain import delivery
from bellwire.events import Event, EventType, MessageType
from bellwire.gateway import close_codes
from bellwire.gateway.frames import event_frame
from bellwire.gateway.hub import Hub, Session

CH = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.backlog = 0
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.backlog

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.aborted = self.closing = True


def make(
    hub: Hub, user: str, sid: str = "s", channels: tuple[tuple[str, int], ...] = ((CH, 0),)
) -> tuple[Session, Transport, list[tuple[int, str]]]:
    transport = Transport()
    closed: list[tuple[int, str]] = []
    session = Session(user, sid, transport, lambda code, reason: closed.append((code, reason)))
    hub.add(session)
    hub.establish(session, channels)
    return session, transport, closed


def message(seq: int, sender: str = "alice", target: str | None = None) -> delivery.ChannelEvent:
    return delivery.message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        CH,
        seq,
        {"N": seq},
        message_type="STANDARD",
        sender=sender,
        target=target,
    )


async def turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def hub() -> Hub:
    return Hub(buffer_limit=10_000, ping_interval=60.0, ping_timeout=60.0)


async def test_one_coalesced_write_per_session_per_loop_turn() -> None:
    h = hub()
    _, alice, _ = make(h, "alice")
    _, bob, _ = make(h, "bob")
    for seq in (1, 2, 3):
        h.on_event(message(seq))
    assert alice.writes == []  # nothing is written inside the fan-out itself
    await turn()
    expected = b"".join(event_frame(message(s).event) for s in (1, 2, 3))
    assert alice.writes == [expected] and bob.writes == [expected]


async def test_targeted_messages_reach_only_target_and_sender() -> None:
    h = hub()
    _, alice, _ = make(h, "alice")
    _, bob, _ = make(h, "bob")
    _, carol, _ = make(h, "carol")
    h.on_event(message(1, sender="alice", target="bob"))
    await turn()
    assert alice.writes and bob.writes and not carol.writes


async def test_membership_events_subscribe_and_unsubscribe_in_order() -> None:
    h = hub()
    _, alice, _ = make(h, "alice")
    _, dave, _ = make(h, "dave", channels=())
    h.on_event(message(1))
    created = delivery.membership_created(CH, 2, {"Member": "dave"}, "dave")
    h.on_event(created)
    h.on_event(message(3))
    removed = delivery.membership_deleted(CH, 4, {"Member": "dave"}, "dave")
    h.on_event(removed)
    h.on_event(message(5))
    await turn()
    frames = [event_frame(e.event) for e in (created, message(3), removed)]
    assert dave.writes == [b"".join(frames)]  # from its CREATE on, up to its own DELETE
    assert len(alice.writes) == 1 and alice.writes[0].count(b"CREATE_CHANNEL_MESSAGE") == 3


async def test_changes_while_connecting_are_applied_by_sequence() -> None:
    h = hub()
    transport = Transport()
    session = Session("erin", "s", transport, lambda c, r: None)
    h.add(session)
    other = "arn:other-channel"
    # While the snapshot is read: erin joins `other` (seq 7) and leaves CH (seq 9).
    h.on_event(delivery.membership_created(other, 7, {}, "erin"))
    h.on_event(delivery.membership_deleted(CH, 9, {}, "erin"))
    # The snapshot was taken before the leave (CH at seq 8) and before the join.
    h.establish(session, [(CH, 8)])
    assert session.channels == {other}
    # A change the snapshot already reflects (older sequence) does not undo it.
    s2 = Session("frank", "s", Transport(), lambda c, r: None)
    h.add(s2)
    h.on_event(delivery.membership_deleted(CH, 3, {}, "frank"))
    h.establish(s2, [(CH, 5)])
    assert s2.channels == {CH}


async def test_deleted_channel_is_forgotten_after_its_event() -> None:
    h = hub()
    session, alice, _ = make(h, "alice")
    h.on_event(delivery.channel_deleted(CH, 1, {"ChannelArn": CH}))
    h.on_event(message(2))
    await turn()
    assert (
        alice.writes[0].count(b"DELETE_CHANNEL") == 1
        and b"CREATE_CHANNEL_MESSAGE" not in alice.writes[0]
    )
    assert CH not in h.channels and not session.channels


async def test_a_session_over_its_buffer_is_closed_with_1013_and_others_continue() -> None:
    h = Hub(
        buffer_limit=3 * len(event_frame(message(1).event)), ping_interval=60.0, ping_timeout=60.0
    )
    _, slow, slow_closed = make(h, "slow")
    _, fast, _ = make(h, "fast")
    slow.backlog = 10**9  # its socket stopped draining
    for seq in range(1, 3):
        h.on_event(message(seq))
    await turn()
    assert slow_closed and slow_closed[0][0] == close_codes.TRY_AGAIN_LATER and slow.writes == []
    h.on_event(message(3))
    await turn()
    assert len(fast.writes) == 2 and "slow" not in h.users


async def test_user_deletion_closes_every_session_with_4003() -> None:
    h = hub()
    _, _, closed_a = make(h, "alice", "a")
    _, _, closed_b = make(h, "alice", "b")
    h.on_event(delivery.UserEvent("alice", deleted=True))
    assert [c for c, _ in closed_a + closed_b] == [close_codes.FORBIDDEN] * 2
    assert "alice" not in h.users and CH not in h.channels


async def test_keepalive_pings_and_drops_silent_peers() -> None:
    h = Hub(buffer_limit=10_000, ping_interval=10.0, ping_timeout=5.0)
    answering, t1, _ = make(h, "alice", "a")
    _, t2, _ = make(h, "bob", "b")
    h.sweep(100.0)
    assert t1.writes == [b"\x89\x00"] and t2.writes == [b"\x89\x00"]
    h.pong(answering)
    h.sweep(104.0)  # bob's ping is 4 s old: within the timeout, and not pinged twice
    assert not t2.aborted and t2.writes == [b"\x89\x00"] and len(t1.writes) == 2
    h.pong(answering)
    h.sweep(106.0)  # bob's ping is 6 s old: dropped; alice answered and is pinged again
    assert t2.aborted and not t1.aborted and "bob" not in h.users and len(t1.writes) == 3
    h.stop()


async def test_a_connecting_session_is_not_pinged_until_it_is_established() -> None:
    """Its socket carries no session before it is established, so a pong could not reach it and
    the next sweep would drop a client that answered (seen in a storm of 50,000 connects)."""
    h = Hub(buffer_limit=10_000, ping_interval=10.0, ping_timeout=5.0)
    transport = Transport()
    session = Session("alice", "a", transport, lambda code, reason: None)
    h.add(session)  # connecting: its snapshot is being read
    h.sweep(100.0)
    h.sweep(110.0)
    assert transport.writes == [] and not transport.aborted and "alice" in h.users
    h.establish(session, ((CH, 0),))
    h.sweep(120.0)
    assert transport.writes == [b"\x89\x00"]
    h.pong(session)
    h.sweep(130.0)
    assert not transport.aborted and len(transport.writes) == 2
    h.stop()


async def test_keepalive_timer_runs_the_sweep() -> None:
    h = Hub(buffer_limit=10_000, ping_interval=0.01, ping_timeout=60.0)
    _, t1, _ = make(h, "alice", "a")
    await asyncio.sleep(0.05)
    assert t1.writes[:1] == [b"\x89\x00"]
    h.stop()


async def test_frames_for_closed_transports_are_dropped() -> None:
    h = hub()
    _, alice, _ = make(h, "alice")
    alice.closing = True
    h.on_event(message(1))
    await turn()
    assert alice.writes == []


def test_only_one_frame_encoding_per_event() -> None:
    event = Event(EventType.UPDATE_CHANNEL, MessageType.SYSTEM, {"x": 1})
    assert event_frame(event) == event_frame(event)


async def test_a_session_falling_behind_mid_fan_out_does_not_cost_the_others_the_event() -> None:
    frame = event_frame(message(1).event)
    h = Hub(buffer_limit=len(frame) + len(frame) // 2, ping_interval=60.0, ping_timeout=60.0)
    made = [make(h, f"user{i}") for i in range(6)]
    behind, _, behind_closed = made[3]
    h.send(behind, b"x" * len(frame))  # its buffer is nearly full: the next event overflows it
    h.on_event(message(1))
    await turn()
    assert [code for code, _ in behind_closed] == [close_codes.TRY_AGAIN_LATER]
    assert behind.close_code == close_codes.TRY_AGAIN_LATER
    for session, transport, closed in made:
        if session is not behind:
            assert transport.writes == [frame] and not closed
    assert h.session_count == 5


async def test_deliveries_are_counted_per_recipient_with_their_bytes() -> None:
    h = hub()
    for user in ("alice", "bob", "carol"):
        make(h, user)
    assert (h.delivered, h.delivered_bytes, h.session_count) == (0, 0, 3)
    h.on_event(message(1))
    frame = event_frame(message(1).event)
    assert (h.delivered, h.delivered_bytes) == (3, 3 * len(frame))
    h.on_event(message(2, sender="alice", target="bob"))  # only the sender and the target
    targeted = event_frame(message(2, sender="alice", target="bob").event)
    assert (h.delivered, h.delivered_bytes) == (5, 3 * len(frame) + 2 * len(targeted))
    await turn()
    assert h.outbound() == (0, 0)
    transports = [s.transport for sessions in h.users.values() for s in sessions]
    transports[0].backlog, transports[1].backlog = 500, 200  # the sockets' own buffers
    h.on_event(message(3))  # queued in the hub until the loop turns
    assert h.outbound() == (700 + 3 * len(frame), 500 + len(frame))


S0, S1 = f"{CH}/subchannel/s0", f"{CH}/subchannel/s1"


async def test_a_moved_member_leaves_its_old_sub_channel_with_the_move() -> None:
    h = hub()
    _, alice, _ = make(h, "alice", channels=((S0, 1),))
    _, bob, _ = make(h, "bob", channels=((S0, 1),))
    _, carol, _ = make(h, "carol", channels=((S1, 1),))
    moved = delivery.membership_moved(S1, 2, {"SubChannelId": "s1"}, "bob", S0)
    h.on_event(moved)
    in_s0 = delivery.message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        S0,
        3,
        {"N": 0},
        message_type="STANDARD",
        sender="alice",
        target=None,
    )
    in_s1 = delivery.message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        S1,
        4,
        {"N": 1},
        message_type="STANDARD",
        sender="carol",
        target=None,
    )
    h.on_event(in_s0)
    h.on_event(in_s1)
    await turn()
    # Only bob hears of its move; then nothing of s0, everything of s1.
    assert bob.writes == [event_frame(moved.event) + event_frame(in_s1.event)]
    assert alice.writes == [event_frame(in_s0.event)]
    assert carol.writes == [event_frame(in_s1.event)]


async def test_a_move_while_connecting_is_applied_to_both_sub_channels() -> None:
    h = hub()
    session = Session("bob", "s", Transport(), lambda c, r: None)
    h.add(session)
    h.on_event(delivery.membership_moved(S1, 6, {}, "bob", S0))
    h.establish(session, [(S0, 5)])  # the snapshot was read before the move
    assert session.channels == {S1}


async def test_a_deleted_sub_channel_tells_its_moderators_only_and_is_dropped() -> None:
    h = hub()
    _, mod, _ = make(h, "mod", channels=((S1, 1),))
    _, bob, _ = make(h, "bob", channels=((S1, 1),))
    dropped = delivery.sub_channel_membership_dropped(S1, 2, {"SubChannelId": "s1"}, "mod")
    h.on_event(dropped)
    h.on_event(delivery.sub_channel_closed(S1, 3, CH, "s1"))
    await turn()
    assert mod.writes == [event_frame(dropped.event)]
    assert b"subchannel_DELETED" in mod.writes[0]
    assert bob.writes == []
    assert S1 not in h.channels
