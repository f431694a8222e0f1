"""bellwire/frozen.py: the descriptor-based __init__ makes the same records as the dataclass's."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

from bellwire.frozen import quick_init
from bellwire.records.chime import Channel, Message


def record_class() -> Any:
    """A fresh frozen, slotted dataclass each call: one kept as dataclasses made it, one given
    quick_init, from the one definition."""

    @dataclasses.dataclass(frozen=True, slots=True)
    class Record:
        a: str
        b: int
        c: tuple[int, ...] = ()
        d: str | None = None

    return Record


Plain = record_class()
Quick = quick_init(record_class())


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("x", 1), {}), (("x", 1, (2, 3)), {}), (("x",), {"b": 2, "d": "y"}), ((), {"a": "", "b": 0})],
)
def test_the_same_fields_as_the_dataclass_init(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    made = Quick(*args, **kwargs)
    plain = Plain(*args, **kwargs)
    assert dataclasses.astuple(made) == dataclasses.astuple(plain)
    assert made == Quick(*args, **kwargs)
    assert hash(made) == hash(Quick(*args, **kwargs))


def test_a_wrong_call_fails_as_the_dataclass_init_does() -> None:
    with pytest.raises(TypeError):
        Quick("x")
    with pytest.raises(TypeError):
        Quick("x", 1, e=3)
    with pytest.raises(TypeError):
        Quick("x", 1, (), None, 5)


def test_the_record_stays_frozen_and_replaceable() -> None:
    made = Quick("x", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = "y"
    assert dataclasses.replace(made, b=2) == Quick("x", 2)


def test_the_records_keep_their_signatures() -> None:
    for cls in (Message, Channel):
        parameters = inspect.signature(cls).parameters
        assert [
            (p.name, p.default if p.default is not inspect.Parameter.empty else dataclasses.MISSING)
            for p in parameters.values()
        ] == [(f.name, f.default) for f in dataclasses.fields(cls)]


def test_a_default_factory_makes_a_new_value_for_each_record() -> None:
    @quick_init
    @dataclasses.dataclass(frozen=True, slots=True)
    class Listed:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    first, second = Listed(1), Listed(2)
    assert first.b == [] and first.b is not second.b
    given = [3]
    assert Listed(1, given).b is given


def test_what_it_cannot_do_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class KeywordOnly:
        a: int = dataclasses.field(kw_only=True)

    for cls in (NoSlots, NotFrozen, PostInit, KeywordOnly):
        with pytest.raises(TypeError):
            quick_init(cls)
