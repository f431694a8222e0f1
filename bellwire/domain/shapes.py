"""Records as the API shapes of the service models (spec §4.6).

One builder per shape serves both REST answers and event payloads; only the timestamp format
differs (``ts``): epoch seconds for REST bodies, ISO-8601 with milliseconds inside WebSocket
payloads (spec §2.5). ``None`` members are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bellwire.domain.elastic import configuration_shape
from bellwire.events import iso_timestamp
from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    Membership,
    Message,
    Moderator,
)

Timestamp = Callable[[float | None], Any]
Names = Mapping[str, str]


def rest_ts(value: float | None) -> float | None:
    return value


event_ts: Timestamp = iso_timestamp


def _clean(shape: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in shape.items() if v is not None}


def identity(arn: str, names: Names) -> dict[str, Any]:
    return _clean({"Arn": arn, "Name": names.get(arn)})


def app_instance(ai: AppInstance, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "AppInstanceArn": ai.arn,
            "Name": ai.name,
            "Metadata": ai.metadata,
            "CreatedTimestamp": ts(ai.created),
            "LastUpdatedTimestamp": ts(ai.updated),
        }
    )


def app_instance_summary(ai: AppInstance) -> dict[str, Any]:
    return _clean({"AppInstanceArn": ai.arn, "Name": ai.name, "Metadata": ai.metadata})


def user_expiration(u: AppInstanceUser) -> dict[str, Any] | None:
    if u.expiration_days is None:
        return None
    return {"ExpirationDays": u.expiration_days, "ExpirationCriterion": u.expiration_criterion}


def app_instance_user(u: AppInstanceUser, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "AppInstanceUserArn": u.arn,
            "Name": u.name,
            "Metadata": u.metadata,
            "CreatedTimestamp": ts(u.created),
            "LastUpdatedTimestamp": ts(u.updated),
            "ExpirationSettings": user_expiration(u),
        }
    )


def app_instance_user_summary(u: AppInstanceUser) -> dict[str, Any]:
    return _clean({"AppInstanceUserArn": u.arn, "Name": u.name, "Metadata": u.metadata})


def app_instance_admin(a: Admin, names: Names, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "Admin": identity(a.admin_arn, names),
            "AppInstanceArn": a.app_instance_arn,
            "CreatedTimestamp": ts(a.created),
        }
    )


def channel_expiration(c: Channel) -> dict[str, Any] | None:
    if c.expiration_days is None:
        return None
    return {"ExpirationDays": c.expiration_days, "ExpirationCriterion": c.expiration_criterion}


def channel(c: Channel, names: Names, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "Name": c.name,
            "ChannelArn": c.arn,
            "Mode": c.mode,
            "Privacy": c.privacy,
            "Metadata": c.metadata,
            "CreatedBy": identity(c.created_by, names),
            "CreatedTimestamp": ts(c.created),
            "LastMessageTimestamp": ts(c.last_message),
            "LastUpdatedTimestamp": ts(c.updated),
            "ExpirationSettings": channel_expiration(c),
            "ElasticChannelConfiguration": (
                None if c.elastic is None else configuration_shape(c.elastic)
            ),
        }
    )


def channel_summary(c: Channel, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "Name": c.name,
            "ChannelArn": c.arn,
            "Mode": c.mode,
            "Privacy": c.privacy,
            "Metadata": c.metadata,
            "LastMessageTimestamp": ts(c.last_message),
        }
    )


def channel_message(m: Message, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "ChannelArn": m.channel_arn,
            "MessageId": m.message_id,
            "Content": None if m.redacted else m.content,
            "Metadata": None if m.redacted else m.metadata,
            "Type": m.type,
            "CreatedTimestamp": ts(m.created),
            "LastEditedTimestamp": ts(m.last_edited),
            "LastUpdatedTimestamp": ts(m.last_updated),
            "Sender": _clean({"Arn": m.sender_arn, "Name": m.sender_name or None}),
            "Redacted": m.redacted,
            "Persistence": m.persistence,
            "Status": {"Value": m.status},
            "MessageAttributes": None if m.redacted else m.attributes,
            "ContentType": None if m.redacted else m.content_type,
            "Target": [{"MemberArn": m.target_arn}] if m.target_arn else None,
            "SubChannelId": m.sub_channel_id,
        }
    )


def channel_message_summary(m: Message, ts: Timestamp = rest_ts) -> dict[str, Any]:
    shape = channel_message(m, ts)
    shape.pop("ChannelArn", None)
    shape.pop("Persistence", None)
    return shape


def channel_membership(m: Membership, names: Names, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "InvitedBy": identity(m.invited_by, names),
            "Type": m.type,
            "Member": identity(m.member_arn, names),
            "ChannelArn": m.channel_arn,
            "CreatedTimestamp": ts(m.created),
            "LastUpdatedTimestamp": ts(m.updated),
            "SubChannelId": m.sub_channel_id,
        }
    )


def channel_membership_summary(
    m: Membership, names: Names, ts: Timestamp = rest_ts
) -> dict[str, Any]:
    # ReadMarkerTimestamp is not in the model but AWS sends it (spec §4.4); the REST codec drops
    # members the model lacks, event payloads keep it.
    return _clean(
        {"Member": identity(m.member_arn, names), "ReadMarkerTimestamp": ts(m.read_marker)}
    )


def channel_moderator(m: Moderator, names: Names, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "Moderator": identity(m.moderator_arn, names),
            "ChannelArn": m.channel_arn,
            "CreatedTimestamp": ts(m.created),
            "CreatedBy": identity(m.created_by, names),
        }
    )


def channel_ban(b: Ban, names: Names, ts: Timestamp = rest_ts) -> dict[str, Any]:
    return _clean(
        {
            "Member": identity(b.member_arn, names),
            "ChannelArn": b.channel_arn,
            "CreatedTimestamp": ts(b.created),
            "CreatedBy": identity(b.created_by, names),
        }
    )
