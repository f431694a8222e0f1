"""Vectors of ``domain/push_filter.py``: the documented FilterRule examples (spec §11A.3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bellwire.domain import push_filter


def attrs(**values: list[str]) -> dict[str, Any]:
    return {k: {"StringValues": v} for k, v in values.items()}


MENTION = '{"mention":["Bob"]}'
NOT_ROOM = '{"type":[{"anything-but":["Room"]}]}'
BOTH = '{"type":[{"anything-but":["Room"]}],"mention":["Bob"]}'
EITHER = '{"$or":[{"mention":["Bob"]},{"type":[{"anything-but":["Room"]}]}]}'


@pytest.mark.parametrize(
    ("rule", "attributes", "expected"),
    [
        (MENTION, attrs(mention=["Bob", "Alice"]), True),
        (MENTION, attrs(mention=["Tom"]), False),
        (MENTION, None, False),  # an absent key fails an inclusive match
        (NOT_ROOM, attrs(type=["Room"]), False),
        (NOT_ROOM, attrs(type=["Direct"]), True),
        (NOT_ROOM, None, True),  # and passes anything-but
        (BOTH, attrs(type=["Direct"], mention=["Bob"]), True),
        (BOTH, attrs(type=["Room"], mention=["Bob"]), False),
        (BOTH, attrs(type=["Direct"], mention=["Tom"]), False),
        (EITHER, attrs(type=["Room"], mention=["Bob"]), True),
        (EITHER, attrs(type=["Room"], mention=["Tom"]), False),
        (EITHER, attrs(type=["Direct"], mention=["Tom"]), True),
        ('{"mention":["Bob","Tom"]}', attrs(mention=["Tom"]), True),
        ("{}", None, True),  # constrains nothing
    ],
)
def test_documented_rules(rule: str, attributes: dict[str, Any] | None, expected: bool) -> None:
    assert push_filter.matches(push_filter.parse(rule), attributes) is expected


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ("nope", "JSON"),
        ("[]", "object"),
        ('{"k":"v"}', "list"),
        ('{"k":[1]}', "string"),
        ('{"k":[{"prefix":"a"}]}', "anything-but"),
        ('{"$or":[]}', "1 to 5"),
        (json.dumps({"$or": [{"a": ["1"]}] * 6}), "1 to 5"),
        ('{"$or":[{"$or":[{"a":["1"]}]}]}', "nested"),
        (json.dumps({"k": [f"v{n}" for n in range(20)]}), "complexity"),
        (json.dumps({"k": ["x" * 2100]}), "2048"),
    ],
)
def test_invalid_rules(rule: str, match: str) -> None:
    with pytest.raises(push_filter.FilterRuleError, match=match):
        push_filter.parse(rule)


def test_the_documented_and_example_counts_four() -> None:
    push_filter.parse(BOTH)
    twenty = json.dumps({"k": [f"v{n}" for n in range(19)]})  # 1 key + 19 values
    push_filter.parse(twenty)


def test_preferences() -> None:
    assert push_filter.allows(None, None)
    assert push_filter.allows({}, None)
    assert push_filter.allows({"PushNotifications": {"AllowNotifications": "ALL"}}, None)
    assert not push_filter.allows({"PushNotifications": {"AllowNotifications": "NONE"}}, None)
    filtered = {"PushNotifications": {"AllowNotifications": "FILTERED", "FilterRule": MENTION}}
    assert push_filter.allows(filtered, attrs(mention=["Bob"]))
    assert not push_filter.allows(filtered, attrs(mention=["Tom"]))
    with pytest.raises(push_filter.FilterRuleError, match="FilterRule"):
        push_filter.check_preferences({"PushNotifications": {"AllowNotifications": "FILTERED"}})
    push_filter.check_preferences({"PushNotifications": {"AllowNotifications": "ALL"}})


def test_device_payloads() -> None:
    note = {"Title": "t", "Body": "b", "Type": "DEFAULT"}
    gcm = push_filter.device_payload("GCM", note, "chan", "m1")
    assert gcm["data"]["pinpoint.notification.title"] == "t"
    assert json.loads(gcm["data"]["pinpoint.jsonBody"]) == {
        "chime.message_id": "m1",
        "chime.channel_arn": "chan",
    }
    apns = push_filter.device_payload("APNS_SANDBOX", {"Body": "b"}, "chan", "m1")
    assert apns == {
        "aps": {"alert": {"body": "b"}},
        "chime.message_id": "m1",
        "chime.channel_arn": "chan",
    }
