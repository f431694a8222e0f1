"""The multi-node settings: what a bus URL may be, and what --workers requires."""

from __future__ import annotations

import pytest

from bellwire.config import ConfigError, Settings


def test_the_bus_is_empty_or_a_redis_url() -> None:
    assert Settings().bus == ""
    assert Settings(bus="redis://127.0.0.1:6379/0").bus.startswith("redis://")
    Settings(bus="rediss://cache.example.com:6380/1")
    with pytest.raises(ConfigError, match="bus must be empty or a redis://"):
        Settings(bus="nats://127.0.0.1:4222")


@pytest.mark.parametrize("prefix", ["", "a b", "x{y}"])
def test_a_bus_prefix_is_one_plain_word(prefix: str) -> None:
    with pytest.raises(ConfigError, match="bus_prefix"):
        Settings(bus_prefix=prefix)


def test_workers_need_postgresql_redis_and_a_fixed_port() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings(workers=2, port=0)
    message = str(refused.value)
    assert "need a PostgreSQL store" in message
    assert "need a Redis bus" in message
    assert "fixed port" in message
    ok = Settings(workers=2, store="postgresql://db/bw", bus="redis://r:6379/0", port=8080)
    assert ok.workers == 2
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        Settings(workers=0)


@pytest.mark.parametrize(
    "name", ["bus_reorder_window_seconds", "session_lease_seconds", "iam_check_seconds"]
)
def test_periods_are_positive(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings(**{name: 0})
