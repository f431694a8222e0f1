import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bellwire.events import Event, EventType, MessageType
from bellwire.gateway import prefetch
from bellwire.gateway.frames import event_frame
from bellwire.records.chime import Channel, Membership, Message


def channel(i: int, last: float | None) -> Channel:
    return Channel(
        f"arn:c{i:03d}", "arn:app", f"c{i}", "RESTRICTED", "PRIVATE", None, "u", 0.0, 0.0, last, 0
    )


def membership(i: int, read: float | None) -> Membership:
    return Membership(f"arn:c{i:03d}", "arn:u", "DEFAULT", "arn:u", 0.0, 0.0, read)


def no_shuffle(items: list[object]) -> None:
    pass


def test_all_channels_when_under_the_cap_in_random_order() -> None:
    pairs = [(membership(i, None), channel(i, float(i))) for i in range(10)]
    chosen = prefetch.select(pairs, sort_by=None, cap=50, shuffle=random.Random(1).shuffle)
    assert sorted(c.arn for _, c in chosen) == sorted(c.arn for _, c in pairs)
    assert [c.arn for _, c in chosen] != [c.arn for _, c in pairs]  # shuffled


def test_default_order_is_unread_first_then_latest_message() -> None:
    # 0-4 read (marker after last message), 5-9 unread; later index = newer last message.
    pairs = [(membership(i, 100.0 if i < 5 else 0.5), channel(i, float(i))) for i in range(10)]
    chosen = prefetch.select(pairs, sort_by=None, cap=7, shuffle=no_shuffle)
    assert [c.arn for _, c in chosen] == [f"arn:c{i:03d}" for i in (9, 8, 7, 6, 5, 4, 3)]
    assert prefetch.select(pairs, sort_by="unread", cap=7, shuffle=no_shuffle) == chosen


def test_last_message_order_ignores_unread() -> None:
    pairs = [(membership(i, 100.0 if i % 2 else None), channel(i, float(i))) for i in range(10)]
    chosen = prefetch.select(pairs, sort_by="last-message-timestamp", cap=3, shuffle=no_shuffle)
    assert [c.arn for _, c in chosen] == ["arn:c009", "arn:c008", "arn:c007"]


def test_channel_without_messages_is_never_unread() -> None:
    assert not prefetch.has_unread(membership(1, None), channel(1, None))
    assert prefetch.has_unread(membership(1, None), channel(1, 5.0))
    assert not prefetch.has_unread(membership(1, 6.0), channel(1, 5.0))


def test_payload_caps_messages_and_members() -> None:
    messages = [
        Message(
            "arn:c001",
            f"m{i}",
            i,
            "arn:u",
            "U",
            "hi",
            None,
            "STANDARD",
            "PERSISTENT",
            False,
            float(i),
            float(i),
        )
        for i in range(21)
    ]
    members = [Membership("arn:c001", f"arn:u{i}", "DEFAULT", "arn:u", 0.0, 0.0) for i in range(31)]
    details = prefetch.ChannelDetails(membership(1, 3.5), channel(1, 20.0), messages, members, {})
    payload = prefetch.payload(details, messages_cap=20, members_cap=30)
    assert len(payload["ChannelMessages"]) == 20 and payload["ChannelMessagesHasMore"] is True
    assert len(payload["ChannelMemberships"]) == 30
    assert payload["ReadMarkerTimestamp"] == "1970-01-01T00:00:03.500Z"
    assert payload["Channel"]["LastMessageTimestamp"] == "1970-01-01T00:00:20.000Z"
    assert "ChannelArn" not in payload["ChannelMessages"][0]  # a ChannelMessageSummary
    short = prefetch.payload(
        prefetch.ChannelDetails(
            membership(1, None), channel(1, None), messages[:3], members[:2], {}
        ),
        messages_cap=20,
        members_cap=30,
    )
    assert short["ChannelMessagesHasMore"] is False and "ReadMarkerTimestamp" in short


# --- the shared part ---------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=40)  # quotes, escapes, emoji, ...
markers = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(contents=st.lists(texts, max_size=4), names=st.lists(texts, max_size=4), marker=markers)
def test_shared_details_frame_equals_the_whole_payload_encoded(
    contents: list[str], names: list[str], marker: float | None
) -> None:
    messages = [
        Message(
            "arn:c001", f"m{i}", i, "arn:u", "U", content, None, "STANDARD", "PERSISTENT",
            False, float(i), float(i),
        )
        for i, content in enumerate(contents)
    ]  # fmt: skip
    members = [
        Membership("arn:c001", f"arn:u{i}", "DEFAULT", "arn:u", 0.0, 0.0, read_marker=float(i))
        for i in range(len(names))
    ]
    named = {f"arn:u{i}": name for i, name in enumerate(names)}
    ch = channel(1, 5.0)
    reader = membership(1, marker)
    caps = {"messages_cap": 3, "members_cap": 3}

    whole = event_frame(
        Event(
            EventType.CHANNEL_DETAILS,
            MessageType.SYSTEM,
            prefetch.payload(prefetch.ChannelDetails(reader, ch, messages, members, named), **caps),
        )
    )
    shared = prefetch.shared_details(ch, messages, members, named, **caps)
    assert prefetch.details_frame(shared, marker) == whole


def test_cache_keeps_the_latest_version_within_its_budget() -> None:
    def shared(size: int) -> prefetch.SharedDetails:
        return prefetch.SharedDetails("x" * size)

    cache = prefetch.DetailsCache(budget=100)
    a, b, c = channel(1, None), channel(2, None), channel(3, None)
    cache.put(a, shared(40))
    cache.put(b, shared(40))
    assert cache.get(a) is not None  # a is now the most recently used
    cache.put(c, shared(40))  # over budget: b, the least recently used, goes
    assert cache.get(b) is None and cache.get(a) is not None and cache.get(c) is not None
    # A new event or a membership change makes the entry stale.
    assert cache.get(replace(a, seq=a.seq + 1)) is None
    assert cache.get(replace(a, details_version=1)) is None
    cache.put(a, shared(200))  # larger than the whole budget: not kept
    assert len(cache) == 2
