"""Elastic channels' pure rules (bellwire/domain/elastic.py): vectors and properties.

The property tests keep a model of which member is in which sub-channel, apply the plans the
module returns to it, and check the invariants of balancing after every step.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwire.aws.errors import BadRequest
from bellwire.domain.elastic import (
    ElasticLimits,
    Load,
    Merge,
    Placement,
    Transfer,
    merges,
    minimum_members,
    parse_configuration,
    place,
)
from bellwire.records.chime import ElasticConfiguration


def config(maximum: int = 100, target: int = 1000, pct: int = 10) -> ElasticConfiguration:
    return ElasticConfiguration(maximum, target, pct)


def raw(maximum: int, target: int, pct: int) -> dict[str, int]:
    return {
        "MaximumSubChannels": maximum,
        "TargetMembershipsPerSubChannel": target,
        "MinimumMembershipPercentage": pct,
    }


# --- configuration -------------------------------------------------------------------------------


def test_minimum_is_the_ceiling_of_the_percentage_of_the_target() -> None:
    assert minimum_members(config(target=1000, pct=10)) == 100
    assert minimum_members(config(target=10, pct=25)) == 3  # 2.5 -> 3
    assert minimum_members(config(target=3, pct=1)) == 1  # 0.03 -> 1
    assert minimum_members(config(target=10_000, pct=5)) == 500  # the docs' example


def test_a_configuration_within_the_quotas_is_accepted() -> None:
    parsed = parse_configuration(raw(100, 10_000, 5), ElasticLimits())
    assert parsed == ElasticConfiguration(100, 10_000, 5)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ((1, 10, 10), "MaximumSubChannels must be at least 2"),
        ((2, 1, 10), "TargetMembershipsPerSubChannel must be at least 2"),
        ((2, 10, 0), "between 1 and 40"),
        ((2, 10, 41), "between 1 and 40"),
        ((101, 10, 10), "at most 100 sub-channels"),
        ((100, 10_001, 10), "at most 1000000 memberships"),
    ],
)
def test_a_configuration_outside_the_bounds_is_refused(
    values: tuple[int, int, int], fragment: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_configuration(raw(*values), ElasticLimits())
    assert fragment in caught.value.message


def test_the_quotas_are_the_limits_given() -> None:
    small = ElasticLimits(channels_per_app_instance=1, sub_channels_per_channel=5)
    with pytest.raises(BadRequest):
        parse_configuration(raw(6, 10, 10), small)
    assert parse_configuration(raw(5, 10, 10), small).maximum_sub_channels == 5


# --- placement vectors ---------------------------------------------------------------------------


def test_a_join_goes_to_the_least_full_sub_channel_the_oldest_among_equals() -> None:
    loads = [Load("a", 5, 0), Load("b", 3, 1), Load("c", 3, 2)]
    assert place(loads, config(target=10), "new") == Placement("b")


def test_scale_out_moves_members_into_a_new_sub_channel_evenly() -> None:
    loads = [Load("a", 4, 0), Load("b", 4, 1)]
    # 9 members over 3 sub-channels: 3 each; the joiner is one of the new one's three.
    assert place(loads, config(maximum=3, target=4), "c") == Placement(
        "c", created="c", transfers=(Transfer("a", "c", 1), Transfer("b", "c", 1))
    )


def test_scale_out_leaves_the_extra_members_with_the_oldest_sub_channels() -> None:
    loads = [Load("b", 10, 1), Load("a", 10, 0)]
    # 21 over 3: 7 each; 10 -> 7 means three move from each.
    plan = place(loads, config(maximum=5, target=10), "c")
    assert plan == Placement(
        "c", created="c", transfers=(Transfer("a", "c", 3), Transfer("b", "c", 3))
    )
    loads = [Load("a", 10, 0), Load("b", 10, 1), Load("c", 10, 2)]
    # 31 over 4: 8, 8, 8, 7 -> the new one gets 7 (the joiner and six moved members).
    plan = place(loads, config(maximum=5, target=10), "d")
    assert plan is not None and plan.created == "d"
    assert sum(t.count for t in plan.transfers) == 6


def test_a_full_channel_at_its_maximum_takes_no_one() -> None:
    loads = [Load("a", 2, 0), Load("b", 2, 1)]
    assert place(loads, config(maximum=2, target=2), "c") is None


def test_the_first_member_of_a_channel_without_sub_channels_creates_one() -> None:
    assert place([], config(), "x") == Placement("x", created="x")


# --- scale-in vectors ----------------------------------------------------------------------------


def test_a_sub_channel_below_the_minimum_merges_into_the_next_smallest() -> None:
    loads = [Load("a", 8, 0), Load("b", 1, 1), Load("c", 6, 2)]
    assert merges(loads, config(target=10, pct=20)) == [Merge("b", "c", 1)]


def test_no_merge_when_no_other_sub_channel_can_absorb_all_members() -> None:
    loads = [Load("a", 9, 0), Load("b", 1, 1), Load("c", 10, 2)]
    assert merges(loads, config(target=10, pct=20)) == [Merge("b", "a", 1)]
    loads = [Load("a", 10, 0), Load("b", 1, 1), Load("c", 10, 2)]
    assert merges(loads, config(target=10, pct=20)) == []


def test_the_last_sub_channel_stays_even_empty() -> None:
    assert merges([Load("a", 0, 0)], config(target=10, pct=20)) == []


def test_merges_continue_while_they_can() -> None:
    loads = [Load("a", 0, 0), Load("b", 0, 1), Load("c", 0, 2)]
    # Among equals the newest goes and the oldest absorbs.
    assert merges(loads, config(target=10, pct=20)) == [Merge("c", "a", 0), Merge("b", "a", 0)]


def test_a_sub_channel_at_the_minimum_stays() -> None:
    loads = [Load("a", 2, 0), Load("b", 2, 1)]
    assert merges(loads, config(target=10, pct=20)) == []


# --- properties ----------------------------------------------------------------------------------


class Model:
    """Members per sub-channel, changed only by the plans of elastic.py."""

    def __init__(self, cfg: ElasticConfiguration) -> None:
        self.cfg = cfg
        self.subs: dict[str, list[int]] = {"s0": []}
        self.ordinals = {"s0": 0}
        self.ids = itertools.count(1)

    def loads(self) -> list[Load]:
        return [Load(s, len(m), self.ordinals[s]) for s, m in self.subs.items()]

    def join(self, member: int) -> bool:
        new = f"s{next(self.ids)}"
        plan = place(self.loads(), self.cfg, new)
        if plan is None:
            return False
        if plan.created is not None:
            self.subs[plan.created] = []
            self.ordinals[plan.created] = max(self.ordinals.values()) + 1
        for t in plan.transfers:
            moving = self.subs[t.source][-t.count :]  # the newest
            assert len(moving) == t.count
            del self.subs[t.source][-t.count :]
            self.subs[t.target] += moving
        self.subs[plan.sub_channel_id].append(member)
        return True

    def leave(self, member: int) -> None:
        for members in self.subs.values():
            if member in members:
                members.remove(member)
        for m in merges(self.loads(), self.cfg):
            assert len(self.subs[m.source]) == m.count
            self.subs[m.target] += self.subs.pop(m.source)

    def check(self, members: set[int]) -> None:
        seen = [m for ms in self.subs.values() for m in ms]
        assert sorted(seen) == sorted(members)  # each member in exactly one sub-channel
        assert 1 <= len(self.subs) <= self.cfg.maximum_sub_channels
        assert all(len(ms) <= self.cfg.target_memberships for ms in self.subs.values())
        # Nothing left to merge: the smallest is at the minimum or no one can absorb it.
        if len(self.subs) > 1:
            sizes = sorted(len(ms) for ms in self.subs.values())
            assert (
                sizes[0] >= minimum_members(self.cfg)
                or sizes[0] + sizes[1] > self.cfg.target_memberships
            )


@settings(max_examples=300, deadline=None)
@given(
    maximum=st.integers(2, 6),
    target=st.integers(2, 12),
    pct=st.integers(1, 40),
    steps=st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=200),
)
def test_balancing_keeps_its_invariants_through_joins_and_leaves(
    maximum: int, target: int, pct: int, steps: list[tuple[bool, int]]
) -> None:
    model = Model(ElasticConfiguration(maximum, target, pct))
    members: set[int] = set()
    for joining, member in steps:
        if joining and member not in members:
            if model.join(member):
                members.add(member)
            else:  # refused only when every allowed sub-channel is full
                assert len(members) == maximum * target
        elif not joining and member in members:
            model.leave(member)
            members.discard(member)
        model.check(members)


@settings(max_examples=100, deadline=None)
@given(
    maximum=st.integers(2, 6),
    target=st.integers(2, 12),
    joins=st.integers(0, 80),
)
def test_balancing_is_deterministic(maximum: int, target: int, joins: int) -> None:
    runs = []
    for _ in range(2):
        model = Model(ElasticConfiguration(maximum, target, 10))
        for member in range(joins):
            model.join(member)
        runs.append(model.subs)
    assert runs[0] == runs[1]
