"""When the hub writes: bursts coalesced across loop turns, frames before a close, the bound."""

import asyncio

from test_hub import CH, Transport, make, message, turn

from bellwire.gateway import close_codes
from bellwire.gateway.frames import event_frame
from bellwire.gateway.hub import Hub, Session
from bellwire.gateway.outbox import QUIET_INTERVALS


def frames(*seqs: int) -> bytes:
    return b"".join(event_frame(message(s).event) for s in seqs)


async def test_a_flush_interval_coalesces_events_of_several_loop_turns() -> None:
    interval = 0.02
    quiet = QUIET_INTERVALS * interval
    h = Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0, flush_interval=interval)
    _, alice, _ = make(h, "alice")
    _, bob, _ = make(h, "bob")
    h.on_event(message(1))  # the hub was quiet: out at the next loop iteration
    await turn()
    assert alice.writes == [frames(1)] and bob.writes == [frames(1)] and h.writes == 2
    for seq in (2, 3, 4):
        h.on_event(message(seq))
        await turn()  # each event in its own loop turn, as separate commits are
    assert alice.writes == [frames(1)] and h.writes == 2  # busy: waiting for company
    await asyncio.sleep(interval * 2)
    assert alice.writes == [frames(1), frames(2, 3, 4)] and bob.writes == alice.writes
    assert (h.delivered, h.writes) == (8, 4)
    await asyncio.sleep(interval * 2)
    h.on_event(message(5))  # within the quiet span: still waits
    await turn()
    assert h.writes == 4
    await asyncio.sleep(interval * 2)
    assert alice.writes[-1] == frames(5) and h.writes == 6
    await asyncio.sleep(quiet + interval)
    h.on_event(message(6))  # quiet again: at once
    await turn()
    assert alice.writes[-1] == frames(6) and h.writes == 8
    h.stop()


async def test_without_an_interval_each_loop_turn_is_written_at_once() -> None:
    h = Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0)
    _, alice, _ = make(h, "alice")
    for seq in (1, 2):
        h.on_event(message(seq))
        await turn()
    assert alice.writes == [frames(1), frames(2)] and h.writes == 2


async def test_queued_frames_go_out_before_a_close() -> None:
    h = Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0, flush_interval=10.0)
    transport = Transport()
    seen_at_close: list[list[bytes]] = []
    session = Session("alice", "s", transport, lambda c, r: seen_at_close.append(transport.writes))
    h.add(session)
    h.establish(session, ((CH, 0),))
    h.on_event(message(1))
    h.on_event(message(2))
    h.close(session, close_codes.FORBIDDEN, "Replaced.")
    assert seen_at_close == [[frames(1, 2)]]  # written before the closer sent its frame
    assert session.close_code == close_codes.FORBIDDEN
    h.flush()
    assert transport.writes == [frames(1, 2)]  # not twice
    h.stop()


async def test_a_session_closed_for_falling_behind_gets_nothing_more() -> None:
    h = Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0, flush_interval=10.0)
    session, transport, closed = make(h, "alice")
    h.on_event(message(1))
    h.close(session, close_codes.TRY_AGAIN_LATER, "behind")
    h.flush()
    assert transport.writes == [] and closed == [(close_codes.TRY_AGAIN_LATER, "behind")]
    h.stop()


async def test_a_close_that_finds_the_socket_full_is_a_1013() -> None:
    frame = event_frame(message(1).event)
    h = Hub(buffer_limit=2 * len(frame), ping_interval=60.0, ping_timeout=60.0)
    session, transport, closed = make(h, "alice")
    h.on_event(message(1))
    transport.backlog = 2 * len(frame)  # the socket filled up since
    h.close(session, close_codes.FORBIDDEN, "Replaced.")
    assert [code for code, _ in closed] == [close_codes.TRY_AGAIN_LATER]
    assert transport.writes == []


async def test_the_sockets_backlog_at_the_last_write_counts_against_the_bound() -> None:
    frame = event_frame(message(1).event)
    h = Hub(buffer_limit=3 * len(frame), ping_interval=60.0, ping_timeout=60.0)
    full, full_t, full_closed = make(h, "full")
    drained, drained_t, drained_closed = make(h, "drained")
    for transport in (full_t, drained_t):
        transport.backlog = 2 * len(frame)  # what each socket kept of the first write
    h.on_event(message(1))
    await turn()
    assert full.backlog == drained.backlog == 2 * len(frame)
    drained_t.backlog = 0  # this one's peer read everything since; the other's did not
    h.on_event(message(2))
    h.on_event(message(3))  # 2 frames queued + 2 seen in the socket: over the bound of 3
    assert [code for code, _ in full_closed] == [close_codes.TRY_AGAIN_LATER]
    assert drained_closed == [] and drained.backlog == 0  # looked again: it had drained
    await turn()
    assert drained_t.writes == [frame, frames(2, 3)]
    assert full_t.writes == [frame]


async def test_stop_cancels_a_pending_flush() -> None:
    h = Hub(buffer_limit=1 << 20, ping_interval=60.0, ping_timeout=60.0, flush_interval=0.01)
    _, alice, _ = make(h, "alice")
    h.on_event(message(1))
    await turn()  # written at once: the hub was quiet
    h.on_event(message(2))  # waits for the interval
    h.stop()
    await asyncio.sleep(0.05)
    assert alice.writes == [frames(1)]
