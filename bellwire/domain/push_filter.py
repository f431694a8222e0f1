"""Pure: the push preferences of a channel membership and their FilterRule (spec §11A.3).

A FilterRule is a JSON object matched by exact string against a message's MessageAttributes:
``{"mention": ["Bob"]}`` (the attribute has one of the values), ``{"type": [{"anything-but":
["Room"]}]}`` (it has none of them), keys ANDed, ``{"$or": [rule, ...]}`` (any of at most 5).
Limits: 2 KB, and a complexity (keys + values) of at most 20. A key the message lacks fails
an inclusive match and passes an ``anything-but`` [INFERRED, as the documentation words it].
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_RULE_BYTES = 2048
MAX_COMPLEXITY = 20
MAX_OR = 5


class FilterRuleError(ValueError):
    """A FilterRule that does not parse or exceeds a limit; the message says which."""


def _complexity(rule: Mapping[str, Any], depth: int = 0) -> int:
    total = 0
    for key, value in rule.items():
        if key == "$or":
            if depth > 0:
                raise FilterRuleError("$or may not be nested")
            if not isinstance(value, list) or not value or len(value) > MAX_OR:
                raise FilterRuleError(f"$or takes a list of 1 to {MAX_OR} rules")
            for alternative in value:
                if not isinstance(alternative, dict) or not alternative:
                    raise FilterRuleError("each rule of $or must be a non-empty JSON object")
                total += _complexity(alternative, depth + 1)
            continue
        if not isinstance(value, list) or not value:
            raise FilterRuleError(f"the values of {key!r} must be a non-empty list")
        total += 1
        for matcher in value:
            if isinstance(matcher, str):
                total += 1
            elif (
                isinstance(matcher, dict)
                and list(matcher) == ["anything-but"]
                and isinstance(matcher["anything-but"], list)
                and matcher["anything-but"]
                and all(isinstance(v, str) for v in matcher["anything-but"])
            ):
                total += len(matcher["anything-but"])
            else:
                raise FilterRuleError(
                    f'a value of {key!r} must be a string or {{"anything-but": [strings]}}'
                )
    return total


def parse(text: str) -> dict[str, Any]:
    """The rule, checked; raises :class:`FilterRuleError`."""
    if len(text.encode()) > MAX_RULE_BYTES:
        raise FilterRuleError(f"a FilterRule is at most {MAX_RULE_BYTES} bytes")
    try:
        rule = json.loads(text)
    except ValueError:
        raise FilterRuleError("a FilterRule must be a JSON object") from None
    # An empty object constrains nothing and matches every message, as an empty SNS filter
    # policy does [INFERRED].
    if not isinstance(rule, dict):
        raise FilterRuleError("a FilterRule must be a JSON object")
    complexity = _complexity(rule)
    if complexity > MAX_COMPLEXITY:
        raise FilterRuleError(
            f"the FilterRule's complexity (keys and values) is {complexity}; "
            f"at most {MAX_COMPLEXITY}"
        )
    return rule


def _values(attributes: Mapping[str, Any], key: str) -> list[str] | None:
    value = attributes.get(key)
    if not isinstance(value, Mapping):
        return None
    return [str(v) for v in value.get("StringValues") or []]


def _key_matches(matchers: list[Any], values: list[str] | None) -> bool:
    for matcher in matchers:
        if isinstance(matcher, str):
            if values is not None and matcher in values:
                return True
        elif values is None or not set(values) & set(matcher["anything-but"]):
            return True
    return False


def matches(rule: Mapping[str, Any], attributes: Mapping[str, Any] | None) -> bool:
    attrs = attributes or {}
    for key, value in rule.items():
        if key == "$or":
            if not any(matches(alternative, attrs) for alternative in value):
                return False
        elif not _key_matches(value, _values(attrs, key)):
            return False
    return True


def check_preferences(preferences: Mapping[str, Any]) -> None:
    """What PutChannelMembershipPreferences refuses (as a FilterRuleError): FILTERED without a
    rule, a rule that does not parse or is over a limit."""
    push = preferences.get("PushNotifications")
    if not push:
        return
    rule = push.get("FilterRule")
    if push.get("AllowNotifications") == "FILTERED" and not rule:
        raise FilterRuleError("AllowNotifications FILTERED needs a FilterRule")
    if rule:
        parse(rule)


def allows(preferences: Mapping[str, Any] | None, attributes: Mapping[str, Any] | None) -> bool:
    """Whether a member with these preferences is pushed a message with these attributes.
    No preference is ALL [INFERRED]; a stored rule that no longer parses pushes nothing."""
    push = (preferences or {}).get("PushNotifications")
    if not push:
        return True
    allow = push.get("AllowNotifications", "ALL")
    if allow == "ALL":
        return True
    if allow == "NONE":
        return False
    try:
        return matches(parse(str(push.get("FilterRule") or "")), attributes)
    except FilterRuleError:
        return False


def device_payload(
    endpoint_type: str, notification: Mapping[str, Any], channel_arn: str, message_id: str
) -> dict[str, Any]:
    """What Pinpoint would hand the device: FCM's data map with the pinpoint.* keys, or for
    APNs ``aps.alert`` and the two chime.* keys [INFERRED]."""
    title = notification.get("Title")
    body = notification.get("Body")
    if endpoint_type == "GCM":
        data = {
            "pinpoint.openApp": "true",
            "pinpoint.campaign.campaign_id": "_DIRECT",
            "pinpoint.notification.silentPush": "0",
            "pinpoint.jsonBody": json.dumps(
                {"chime.message_id": message_id, "chime.channel_arn": channel_arn},
                separators=(",", ":"),
            ),
        }
        if title is not None:
            data["pinpoint.notification.title"] = str(title)
        if body is not None:
            data["pinpoint.notification.body"] = str(body)
        return {"data": data}
    alert = {k: str(v) for k, v in (("title", title), ("body", body)) if v is not None}
    return {
        "aps": {"alert": alert},
        "chime.message_id": message_id,
        "chime.channel_arn": channel_arn,
    }
