"""The outbox of a session: frames queued in order, taken as one write, bounded."""

import math
import subprocess
import sys

import pytest

from bellwire.gateway.outbox import QUIET_INTERVALS, Outbox, fan_out, flush_delay


def test_frames_are_taken_as_one_write_in_the_order_they_were_queued() -> None:
    box = Outbox()
    assert box.put(b"\x81\x01a") is True  # the first frame: the outbox needs a flush
    assert box.put(b"\x81\x01b") is False
    assert box.put(b"\x81\x02cd") is False
    assert box.buffered == 10
    assert box.take() == b"\x81\x01a\x81\x01b\x81\x02cd"
    assert (box.buffer, box.buffered) == ([], 0)
    assert box.put(b"\x81\x01e") is True  # empty again: the next frame needs a flush again


def test_a_single_frame_is_written_as_is() -> None:
    box = Outbox()
    frame = b"\x81\x03abc"
    box.put(frame)
    assert box.take() is frame  # no copy for the common case of one frame


def test_a_closed_outbox_takes_nothing() -> None:
    box = Outbox()
    box.closed = True
    assert box.put(b"\x81\x01a") is False
    assert box.buffer == [] and box.buffered == 0


@pytest.mark.parametrize(
    ("queued", "backlog", "limit", "over"),
    [
        (0, 0, 10, False),
        (10, 0, 10, False),  # at the limit is allowed
        (11, 0, 10, True),
        (6, 4, 10, False),
        (6, 5, 10, True),  # the socket's backlog counts
        (0, 11, 10, True),
    ],
)
def test_the_bound_counts_queued_frames_and_the_sockets_backlog(
    queued: int, backlog: int, limit: int, over: bool
) -> None:
    box = Outbox()
    if queued:
        box.put(b"x" * queued)
    box.backlog = backlog
    assert box.over(limit) is over


def test_clear_drops_the_frames_but_keeps_the_backlog_estimate() -> None:
    box = Outbox()
    box.put(b"abc")
    box.backlog = 7
    box.clear()
    assert (box.buffer, box.buffered, box.backlog) == ([], 0, 7)


def test_fan_out_appends_one_frame_object_to_every_open_outbox() -> None:
    boxes = [Outbox() for _ in range(4)]
    boxes[1].put(b"\x81\x01p")  # already dirty: not listed again
    boxes[2].closed = True
    dirty: list[Outbox] = []
    behind: list[Outbox] = []
    frame = b"\x81\x02hi"
    assert fan_out(boxes, frame, 100, dirty, behind) == 3
    assert dirty == [boxes[0], boxes[3]]
    assert behind == []
    assert boxes[0].buffer[0] is frame and boxes[3].buffer[0] is frame  # encoded once
    assert boxes[1].take() == b"\x81\x01p\x81\x02hi"
    assert boxes[2].buffer == []


def test_fan_out_reports_the_outboxes_over_their_bound() -> None:
    boxes = [Outbox() for _ in range(3)]
    boxes[1].backlog = 8  # its socket had not sent 8 bytes at the last write
    boxes[2].put(b"x" * 9)
    dirty: list[Outbox] = []
    behind: list[Outbox] = []
    assert fan_out(boxes, b"abc", 10, dirty, behind) == 3
    assert behind == [boxes[1], boxes[2]]  # 3 + 8 and 9 + 3 exceed 10; 3 does not
    assert dirty == [boxes[0], boxes[1]]


def test_fan_out_to_nobody() -> None:
    dirty: list[Outbox] = []
    assert fan_out([], b"abc", 10, dirty, []) == 0
    assert dirty == []


def test_module_is_sans_io() -> None:
    code = (
        "import sys, bellwire.gateway.outbox\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'asyncio', 'socket', 'aiohttp'} "
        "or (m.startswith('bellwire.') and m not in {'bellwire.gateway', "
        "'bellwire.gateway.outbox'})]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_burst_waits_the_interval_only_when_the_hub_was_busy() -> None:
    quiet = QUIET_INTERVALS * 0.002
    assert flush_delay(0.002, 10.0, -math.inf) == 0.0  # never flushed: at once
    assert flush_delay(0.002, 10.0, 9.0) == 0.0  # quiet for a second
    assert flush_delay(0.002, 10.0, 10.0 - quiet - 0.0001) == 0.0
    assert flush_delay(0.002, 10.0, 10.0 - quiet + 0.0001) == 0.002  # busy: the interval
    assert flush_delay(0.002, 10.0, 10.0) == 0.002  # just flushed
    assert flush_delay(0.0, 10.0, 10.0) == 0.0
