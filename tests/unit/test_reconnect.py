from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bellwire.client.reconnect import (
    ENDPOINT_LOOKUP_FAILED,
    ReconnectController,
    ReconnectPolicy,
    Stop,
    StopReason,
    can_reconnect,
)


def const(value: float) -> Callable[[], float]:
    return lambda: value


ALMOST_ONE = 0.9999999999999999  # the largest float below 1.0

# Seed "Handling disconnects" tables and spec §2.6, plus the edges of every range.
CLOSE_CODES = [
    (0, False),
    (999, False),
    (1000, False),  # normal closure: not in the allow-list
    (1001, True),
    (1002, False),
    (1003, False),
    (1004, False),
    (1005, False),  # no status: a peer that gave no reason; own closes are the stop latch's job
    (1006, True),
    (1007, False),
    (1008, False),
    (1009, False),
    (1010, False),
    (1011, True),
    (1012, True),
    (1013, True),
    (1014, True),
    (1015, False),
    (2999, False),
    (3000, False),
    (3999, False),
    (4000, False),  # the JS SDK tests code > 4000
    (4001, True),
    (4002, False),  # client initiated
    (4003, False),  # forbidden / kicked
    (4004, True),
    (4400, True),
    (4401, False),  # not authorized
    (4402, True),
    (4500, True),
    (4998, True),
    (4999, True),  # synthetic: endpoint lookup failed
    (5000, False),
    (65535, False),
    (-1, False),
]


@pytest.mark.parametrize(("code", "expected"), CLOSE_CODES)
def test_can_reconnect(code: int, expected: bool) -> None:
    assert can_reconnect(code) is expected


@pytest.mark.parametrize(("code", "expected"), CLOSE_CODES)
def test_next_delay_follows_can_reconnect(code: int, expected: bool) -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    delay = ctl.next_delay(code, 0.0, const(0.5))
    if expected:
        assert delay == 0.5
        assert ctl.stopped is None
        assert ctl.attempts == 1
    else:
        assert delay is None
        assert ctl.stopped == Stop(StopReason.NOT_RECONNECTABLE, code)
        assert ctl.attempts == 0


def test_endpoint_lookup_failed_code() -> None:
    assert ENDPOINT_LOOKUP_FAILED == 4999
    assert can_reconnect(ENDPOINT_LOOKUP_FAILED)


def delays(ctl: ReconnectController, rand: float, count: int) -> list[float | None]:
    # A frozen clock: only the backoff sequence is under test, not the window.
    return [ctl.next_delay(1006, 0.0, const(rand)) for _ in range(count)]


def test_backoff_sequence_half() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert delays(ctl, 0.5, 6) == [0.5, 1.0, 2.0, 2.5, 2.5, 2.5]
    assert ctl.attempts == 6


def test_backoff_sequence_almost_one_stays_below_ceilings() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    got = delays(ctl, ALMOST_ONE, 6)
    assert got == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0, 5.0])
    for value, ceiling in zip(got, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0], strict=True):
        assert value is not None
        assert value < ceiling


def test_backoff_zero_rand_gives_fixed_wait() -> None:
    ctl = ReconnectController(ReconnectPolicy(fixed=0.25))
    ctl.start(0.0)
    assert delays(ctl, 0.0, 3) == [0.25, 0.25, 0.25]


def test_fixed_wait_is_added() -> None:
    ctl = ReconnectController(ReconnectPolicy(fixed=0.25))
    ctl.start(0.0)
    assert delays(ctl, 0.5, 4) == [0.75, 1.25, 2.25, 2.75]


def test_many_attempts_do_not_overflow() -> None:
    ctl = ReconnectController(ReconnectPolicy(window=1e9))
    ctl.start(0.0)
    assert delays(ctl, 0.5, 3000)[-1] == 2.5


def test_rand_out_of_range_is_rejected() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    with pytest.raises(ValueError, match="rand"):
        ctl.next_delay(1006, 0.0, const(1.0))


def test_window_after_fresh_start_counts_from_start() -> None:
    ctl = ReconnectController()
    ctl.start(100.0)
    # Attempts keep failing with a retryable code; each retry starts when its delay ends.
    now, got = 100.0, []
    while (delay := ctl.next_delay(1006, now, const(0.5))) is not None:
        got.append(delay)
        now += delay
    # 0.5 + 1 + 2 + 2.5 = 6 then 8.5; at 8.5 only 1.5 s remain, so the last delay is clamped.
    assert got == [0.5, 1.0, 2.0, 2.5, 2.5, 1.5]
    assert now == 110.0
    assert ctl.stopped == Stop(StopReason.WINDOW_EXHAUSTED, 1006)
    assert ctl.attempts == 6


def test_window_boundary_is_inclusive() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert ctl.next_delay(1006, 9.999, const(0.5)) == pytest.approx(0.001)
    assert ctl.next_delay(1006, 10.0, const(0.5)) is None
    assert ctl.stopped == Stop(StopReason.WINDOW_EXHAUSTED, 1006)


def test_window_stops_when_fixed_wait_no_longer_fits() -> None:
    ctl = ReconnectController(ReconnectPolicy(fixed=1.0))
    ctl.start(0.0)
    assert ctl.next_delay(1006, 9.0, const(0.0)) == 1.0
    ctl2 = ReconnectController(ReconnectPolicy(fixed=1.0))
    ctl2.start(0.0)
    assert ctl2.next_delay(1006, 9.5, const(0.0)) is None
    assert ctl2.stopped == Stop(StopReason.WINDOW_EXHAUSTED, 1006)


def test_reset_on_open_restarts_counter_and_window() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert delays(ctl, 0.5, 3) == [0.5, 1.0, 2.0]
    ctl.next_delay(1006, 9.0, const(0.5))
    ctl.reset()  # a socket opened at t=9.5
    assert ctl.attempts == 0
    # Closed at t=50, long after the old window: the first retry is always granted, n = 0 again.
    assert ctl.next_delay(1001, 50.0, const(0.5)) == 0.5
    assert ctl.attempts == 1
    # The new window opened when that retry started (t=50.5), not at the close.
    assert ctl.next_delay(1006, 60.4, const(0.5)) == pytest.approx(0.1)
    assert ctl.next_delay(1006, 60.5, const(0.5)) is None
    assert ctl.stopped == Stop(StopReason.WINDOW_EXHAUSTED, 1006)


def test_next_delay_without_start_acts_as_after_reset() -> None:
    ctl = ReconnectController()
    assert ctl.next_delay(1006, 1000.0, const(0.5)) == 0.5


def test_start_clears_a_previous_stop() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert ctl.next_delay(4003, 0.0, const(0.5)) is None
    assert ctl.next_delay(1006, 0.0, const(0.5)) is None  # latched
    ctl.start(20.0)
    assert ctl.stopped is None
    assert ctl.next_delay(1006, 20.0, const(0.5)) == 0.5


def test_stop_ends_a_pending_retry() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert ctl.next_delay(1006, 0.0, const(0.5)) == 0.5
    # The user stops while the backoff timer runs; the shell cancels its sleep and reports.
    assert ctl.stop() == Stop(StopReason.STOPPED_BY_USER, 1006)
    assert ctl.next_delay(1006, 0.5, const(0.5)) is None


def test_stop_wins_over_a_retryable_close_code() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    ctl.reset()  # open
    assert ctl.stop() == Stop(StopReason.STOPPED_BY_USER, None)
    # Our own close handshake timed out: 1006 must not bring the session back.
    assert ctl.next_delay(1006, 1.0, const(0.5)) is None
    assert ctl.stopped == Stop(StopReason.STOPPED_BY_USER, 1006)


def test_stop_survives_reset() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    ctl.stop()
    ctl.reset()  # a connect that was already in flight opened anyway
    assert ctl.next_delay(1001, 1.0, const(0.5)) is None
    assert ctl.stopped is not None
    assert ctl.stopped.reason is StopReason.STOPPED_BY_USER


def test_stop_after_final_failure_keeps_the_failure() -> None:
    ctl = ReconnectController()
    ctl.start(0.0)
    assert ctl.next_delay(4401, 0.0, const(0.5)) is None
    assert ctl.stop() == Stop(StopReason.NOT_RECONNECTABLE, 4401)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0.0},
        {"base": -1.0},
        {"base": 6.0},  # above the default cap
        {"cap": 0.5},
        {"fixed": -0.1},
        {"window": 0.0},
        {"window": -5.0},
        {"base": float("nan")},
        {"cap": float("inf")},
        {"window": float("inf")},
        {"fixed": float("nan")},
    ],
)
def test_policy_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy(**kwargs)


def test_policy_defaults_and_edge_values() -> None:
    assert ReconnectPolicy() == ReconnectPolicy(base=1.0, cap=5.0, fixed=0.0, window=10.0)
    ReconnectPolicy(base=2.0, cap=2.0, fixed=0.0, window=0.001)


def test_module_is_sans_io() -> None:
    code = (
        "import sys, bellwire.client.reconnect\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'asyncio', 'websockets', 'botocore', 'aiohttp'} "
        "or (m.startswith('bellwire.') and not m.startswith('bellwire.client'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


seconds = st.floats(min_value=0.001, max_value=60.0, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> ReconnectPolicy:
    base = draw(seconds)
    cap = draw(st.floats(min_value=base, max_value=120.0))
    fixed = draw(st.one_of(st.just(0.0), seconds))
    return ReconnectPolicy(base=base, cap=cap, fixed=fixed, window=draw(seconds))


@given(
    policy=policies(),
    start=st.floats(min_value=0.0, max_value=1e6),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=ALMOST_ONE),  # rand
            st.floats(min_value=0.0, max_value=30.0),  # connect time before the next close
            st.booleans(),  # whether that attempt opened (reset) before closing
        ),
        max_size=40,
    ),
)
def test_delays_stay_in_range_and_inside_the_window(
    policy: ReconnectPolicy,
    start: float,
    steps: list[tuple[float, float, bool]],
) -> None:
    ctl = ReconnectController(policy)
    ctl.start(start)
    now = start
    anchor: float | None = start
    for rand, connect_time, opened in steps:
        delay = ctl.next_delay(1006, now, const(rand))
        if delay is None:
            assert ctl.stopped is not None
            assert ctl.stopped.reason is StopReason.WINDOW_EXHAUSTED
            assert anchor is not None
            elapsed = now - anchor
            assert elapsed >= policy.window or policy.window - elapsed < policy.fixed
            return
        # Closed above: the jitter is < cap, but adding fixed may round up to fixed + cap.
        assert policy.fixed <= delay <= policy.fixed + policy.cap
        if anchor is not None:
            # The retry starts no later than the window's deadline.
            assert delay <= policy.window - (now - anchor)
        else:
            anchor = now + delay
        now += delay + connect_time
        if opened:
            ctl.reset()
            anchor = None


@given(
    base=seconds,
    extra=st.floats(min_value=0.0, max_value=60.0),
    rand=st.floats(min_value=0.0, max_value=ALMOST_ONE),
    attempts=st.integers(min_value=0, max_value=20),
)
@example(base=3.0, extra=2.0, rand=ALMOST_ONE, attempts=5)
@example(base=0.1, extra=0.0, rand=ALMOST_ONE, attempts=0)
def test_jitter_is_strictly_below_the_ceiling(
    base: float, extra: float, rand: float, attempts: int
) -> None:
    policy = ReconnectPolicy(base=base, cap=base + extra, window=1e9)
    ctl = ReconnectController(policy)
    ctl.start(0.0)
    for _ in range(attempts):
        ctl.next_delay(1006, 0.0, const(0.0))
    delay = ctl.next_delay(1006, 0.0, const(rand))
    assert delay is not None
    assert 0.0 <= delay < min(policy.cap, base * 2**attempts)
