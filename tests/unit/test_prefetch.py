import random

from hypothesis import given, settings
from hypothesis import strategies as st

from bellwire.events import Event, EventType, MessageType
from bellwire.gateway import prefetch
from bellwire.gateway.frames import event_frame
from bellwire.records.chime import Channel, MemberSummary, Message, Position


def channel(i: int, last: float | None) -> Channel:
    return Channel(
        f"arn:c{i:03d}", "arn:app", f"c{i}", "RESTRICTED", "PRIVATE", None, "u", 0.0, 0.0, last, 0
    )


def position(i: int, read: float | None, last: float | None) -> Position:
    return Position(f"arn:c{i:03d}", None, read, last, 0, 0, 0)


def no_shuffle(items: list[object]) -> None:
    pass


def test_all_channels_when_under_the_cap_in_random_order() -> None:
    mine = [position(i, None, float(i)) for i in range(10)]
    chosen = prefetch.select(mine, sort_by=None, cap=50, shuffle=random.Random(1).shuffle)
    assert sorted(chosen) == sorted(mine)
    assert chosen != mine  # shuffled


def test_default_order_is_unread_first_then_latest_message() -> None:
    # 0-4 read (marker after last message), 5-9 unread; later index = newer last message.
    mine = [position(i, 100.0 if i < 5 else 0.5, float(i)) for i in range(10)]
    chosen = prefetch.select(mine, sort_by=None, cap=7, shuffle=no_shuffle)
    assert [p.channel_arn for p in chosen] == [f"arn:c{i:03d}" for i in (9, 8, 7, 6, 5, 4, 3)]
    assert prefetch.select(mine, sort_by="unread", cap=7, shuffle=no_shuffle) == chosen


def test_last_message_order_ignores_unread() -> None:
    mine = [position(i, 100.0 if i % 2 else None, float(i)) for i in range(10)]
    chosen = prefetch.select(mine, sort_by="last-message-timestamp", cap=3, shuffle=no_shuffle)
    assert [p.channel_arn for p in chosen] == ["arn:c009", "arn:c008", "arn:c007"]


def test_channel_without_messages_is_never_unread() -> None:
    assert not prefetch.has_unread(position(1, None, None))
    assert prefetch.has_unread(position(1, None, 5.0))
    assert not prefetch.has_unread(position(1, 6.0, 5.0))


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
    members = [MemberSummary(f"arn:u{i}", None, None) for i in range(30)]
    members.insert(0, MemberSummary("arn:bob", "Bob", 2.0))
    details = prefetch.ChannelDetails(channel(1, 20.0), messages, members, 3.5)
    payload = prefetch.payload(details, messages_cap=20, members_cap=30)
    assert len(payload["ChannelMessages"]) == 20 and payload["ChannelMessagesHasMore"] is True
    assert len(payload["ChannelMemberships"]) == 30
    assert payload["ChannelMemberships"][:2] == [
        {
            "Member": {"Arn": "arn:bob", "Name": "Bob"},
            "ReadMarkerTimestamp": "1970-01-01T00:00:02.000Z",
        },
        {"Member": {"Arn": "arn:u0"}},  # no name, no read marker: left out, as AWS does
    ]
    assert payload["ReadMarkerTimestamp"] == "1970-01-01T00:00:03.500Z"
    assert payload["Channel"]["LastMessageTimestamp"] == "1970-01-01T00:00:20.000Z"
    assert "ChannelArn" not in payload["ChannelMessages"][0]  # a ChannelMessageSummary
    short = prefetch.payload(
        prefetch.ChannelDetails(channel(1, None), messages[:3], members[:2], None),
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
    # Every other member has a name and a read marker but the last (a bot: neither).
    members = [
        MemberSummary(f"arn:u{i}", name, float(i))
        if i % 2
        else MemberSummary(f"arn:u{i}", None, None)
        for i, name in enumerate(names)
    ]
    ch = channel(1, 5.0)
    caps = {"messages_cap": 3, "members_cap": 3}

    whole = event_frame(
        Event(
            EventType.CHANNEL_DETAILS,
            MessageType.SYSTEM,
            prefetch.payload(prefetch.ChannelDetails(ch, messages, members, marker), **caps),
        )
    )
    shared = prefetch.shared_details(ch, messages, members, **caps)
    assert prefetch.details_frame(shared, marker) == whole


def test_cache_keeps_the_latest_version_within_its_budget() -> None:
    def shared(size: int) -> prefetch.SharedDetails:
        return prefetch.SharedDetails("x" * size)

    cache = prefetch.DetailsCache(budget=100)
    a, b, c = (position(i, None, None) for i in (1, 2, 3))
    cache.put(a.route_key, a.version, shared(40))
    cache.put(b.route_key, b.version, shared(40))
    assert cache.get(a.route_key, a.version) is not None  # a is now the most recently used
    cache.put(c.route_key, c.version, shared(40))  # over budget: b, the least recently used, goes
    assert cache.get(b.route_key, b.version) is None
    assert cache.get(a.route_key, a.version) is not None
    assert cache.get(c.route_key, c.version) is not None
    # A new event or a membership change makes the entry stale.
    assert cache.get(a.route_key, a._replace(channel_seq=1).version) is None
    assert cache.get(a.route_key, a._replace(details_version=1).version) is None
    cache.put(a.route_key, a.version, shared(200))  # larger than the whole budget: not kept
    assert len(cache) == 2
