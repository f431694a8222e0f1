"""The cap on unauthenticated connections and the log throttle: pure policies, tested alone."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwire.admission import Admission
from bellwire.log_throttle import Throttle


def test_over_the_cap_the_oldest_pending_connection_is_dropped() -> None:
    admission: Admission[str] = Admission(3)
    assert admission.admit("a") == []
    assert admission.admit("b") == []
    assert admission.admit("c") == []
    assert admission.admit("d") == ["a"]
    assert admission.admit("e") == ["b"]
    assert len(admission) == 3 and "a" not in admission and "e" in admission


def test_authenticated_and_closed_connections_leave_the_count() -> None:
    admission: Admission[str] = Admission(2)
    admission.admit("kept")
    admission.authenticated("kept")  # proved who it is: never dropped for the cap
    admission.admit("b")
    admission.admit("c")
    assert admission.admit("d") == ["b"]
    admission.forget("c")
    assert admission.admit("e") == []
    assert "kept" not in admission and len(admission) == 2
    admission.authenticated("unknown")  # a no-op, not an error
    admission.forget("unknown")


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        Admission(0)


@given(st.lists(st.tuples(st.sampled_from("afx"), st.integers(0, 20)), max_size=200))
def test_never_more_than_the_cap_and_never_the_newest(ops: list[tuple[str, int]]) -> None:
    admission: Admission[int] = Admission(5)
    live: list[int] = []  # pending, oldest first (a model of the cap)
    for op, key in ops:
        if op == "a" and key not in admission:
            dropped = admission.admit(key)
            live.append(key)
            assert key not in dropped
            assert dropped == live[: len(dropped)]
            live = live[len(dropped) :]
        elif op == "f":
            admission.authenticated(key)
            live = [k for k in live if k != key]
        else:
            admission.forget(key)
            live = [k for k in live if k != key]
        assert len(admission) == len(live) <= 5


def test_throttle_lets_one_line_per_interval_and_counts_the_rest() -> None:
    throttle = Throttle(10.0)
    assert throttle.allow("emfile", 0.0) == 0
    assert [throttle.allow("emfile", t) for t in (0.1, 1.0, 9.9)] == [None, None, None]
    assert throttle.allow("other", 5.0) == 0  # kinds are counted apart
    assert throttle.allow("emfile", 10.0) == 3  # written, with the three dropped before it
    assert throttle.allow("emfile", 11.0) is None
    assert throttle.window_end("emfile") == 20.0
    assert throttle.flush("emfile") == 1  # the storm ended: report what is left
    assert throttle.flush("emfile") == 0
    assert throttle.allow("emfile", 25.0) == 0
    assert throttle.flush("never seen") == 0 and throttle.window_end("never seen") is None


def test_throttle_burst() -> None:
    throttle = Throttle(1.0, burst=3)
    assert [throttle.allow("bad-http", 0.0) for _ in range(5)] == [0, 0, 0, None, None]
    assert throttle.allow("bad-http", 1.5) == 2


@pytest.mark.parametrize("kwargs", [{"interval": 0.0}, {"interval": 1.0, "burst": 0}])
def test_throttle_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Throttle(**kwargs)


def test_modules_are_sans_io() -> None:
    code = (
        "import sys, bellwire.admission, bellwire.log_throttle\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'asyncio', 'aiohttp', 'socket'} "
        "or (m.startswith('bellwire.') and m not in ('bellwire.admission', 'bellwire.log_throttle'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
