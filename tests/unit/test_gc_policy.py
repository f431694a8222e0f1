from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bellwire import gc_policy


def test_the_pause_clock_reports_each_collection_with_its_generation() -> None:
    ticks = iter([10.0, 10.004, 20.0, 20.25])
    seen: list[tuple[int, float]] = []
    clock = gc_policy.PauseClock(lambda g, s: seen.append((g, s)), clock=lambda: next(ticks))
    clock("start", {"generation": 0})
    clock("stop", {"generation": 0, "collected": 3, "uncollectable": 0})
    clock("start", {"generation": 2})
    clock("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
    assert [g for g, _ in seen] == [0, 2]
    assert seen[0][1] == pytest.approx(0.004)
    assert seen[1][1] == pytest.approx(0.25)


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_what_exists_and_raises_only_the_young_threshold() -> None:
    _, middle, old = gc.get_threshold()
    built = [[i] for i in range(1000)]  # tracked objects alive at "startup"
    gc.unfreeze()
    gc_policy.settle()
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold() == (gc_policy.YOUNG_THRESHOLD, middle, old)


def test_an_installed_clock_hears_a_collection_until_removed() -> None:
    seen: list[int] = []
    remove = gc_policy.install(gc_policy.PauseClock(lambda g, _: seen.append(g)))
    try:
        gc.collect(1)
    finally:
        remove()
    assert seen == [1]
    gc.collect(1)
    assert seen == [1]
    remove()  # twice is harmless


def test_pauses_reach_the_histogram_at_the_next_refresh_or_scrape() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from bellwire.metrics import Metrics

    metrics = Metrics(multiprocess=False)

    def samples() -> dict[tuple[str, str], float]:
        body, _ = metrics.render("")
        return {
            (s.name, s.labels.get("generation", "")): s.value
            for family in text_string_to_metric_families(body.decode())
            for s in family.samples
            if s.name.startswith("bellwire_gc_pause_seconds")
        }

    metrics.gc_pause(2, 0.03)
    metrics.gc_pause(0, 0.001)
    metrics.gc_pause(2, 0.01)
    seen = samples()  # a scrape records what was queued first
    assert seen[("bellwire_gc_pause_seconds_count", "2")] == 2
    assert seen[("bellwire_gc_pause_seconds_sum", "2")] == pytest.approx(0.04)
    assert seen[("bellwire_gc_pause_seconds_count", "0")] == 1
    metrics.gc_pause(1, 0.002)
    metrics.refresh()
    assert samples()[("bellwire_gc_pause_seconds_count", "1")] == 1
    assert samples()[("bellwire_gc_pause_seconds_count", "2")] == 2  # recorded once only
