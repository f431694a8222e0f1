"""Records as the API shapes of the service models (spec §4.6).

One builder per shape serves both REST answers and event payloads; only the timestamp format
differs (``ts``): epoch seconds for REST bodies, ISO-8601 with milliseconds inside WebSocket
payloads (spec §2.5). ``None`` members are left out.

Each builder returns the generated output type of its shape (``bellwire/aws/shapes.py``), so
mypy checks every member against the model. Their timestamps are typed as the REST answers have
them (epoch seconds); event payloads pass ``event_ts``, whose ISO-8601 strings the ``Any`` of
``Timestamp`` lets through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, TypeVar, cast

from bellwire.aws.shapes import (
    IdentityAppInstance,
    IdentityAppInstanceAdmin,
    IdentityAppInstanceSummary,
    IdentityAppInstanceUser,
    IdentityAppInstanceUserSummary,
    IdentityExpirationSettings,
    MessagingChannel,
    MessagingChannelBan,
    MessagingChannelMembership,
    MessagingChannelMembershipSummary,
    MessagingChannelMessage,
    MessagingChannelMessageSummary,
    MessagingChannelModerator,
    MessagingChannelSummary,
    MessagingExpirationSettings,
    MessagingIdentity,
)
from bellwire.domain.elastic import configuration_shape
from bellwire.events import iso_timestamp
from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    Membership,
    MemberSummary,
    Message,
    Moderator,
)

Timestamp = Callable[[float | None], Any]
Names = Mapping[str, str]
Shape = TypeVar("Shape", bound=Mapping[str, Any])


class MembershipSummary(MessagingChannelMembershipSummary, total=False):
    """A membership summary as AWS sends it in events: with the member's read marker, which the
    model lacks (spec §4.4); the REST codec drops it, event payloads keep it."""

    ReadMarkerTimestamp: Any


def rest_ts(value: float | None) -> float | None:
    return value


# Events and CHANNEL_DETAILS format many timestamps, and the same ones again (a message's created
# and updated, a channel's in every member's details): each distinct one is formatted once.
event_ts: Timestamp = lru_cache(maxsize=4096)(iso_timestamp)


def _clean(shape: Shape) -> Shape:
    # Only members are left out, which a TypedDict of the model's optional members allows.
    return cast(Shape, {k: v for k, v in shape.items() if v is not None})


def identity(arn: str, names: Names) -> MessagingIdentity:
    # Built without _clean: a details frame holds dozens of these.
    name = names.get(arn)
    return {"Arn": arn} if name is None else {"Arn": arn, "Name": name}


def app_instance(ai: AppInstance, ts: Timestamp = rest_ts) -> IdentityAppInstance:
    shape: IdentityAppInstance = {
        "AppInstanceArn": ai.arn,
        "Name": ai.name,
        "Metadata": ai.metadata,
        "CreatedTimestamp": ts(ai.created),
        "LastUpdatedTimestamp": ts(ai.updated),
    }
    return _clean(shape)


def app_instance_summary(ai: AppInstance) -> IdentityAppInstanceSummary:
    shape: IdentityAppInstanceSummary = {
        "AppInstanceArn": ai.arn,
        "Name": ai.name,
        "Metadata": ai.metadata,
    }
    return _clean(shape)


def user_expiration(u: AppInstanceUser) -> IdentityExpirationSettings | None:
    if u.expiration_days is None or u.expiration_criterion is None:
        return None  # both or neither: the model requires both
    return {"ExpirationDays": u.expiration_days, "ExpirationCriterion": u.expiration_criterion}


def app_instance_user(u: AppInstanceUser, ts: Timestamp = rest_ts) -> IdentityAppInstanceUser:
    shape: IdentityAppInstanceUser = {
        "AppInstanceUserArn": u.arn,
        "Name": u.name,
        "Metadata": u.metadata,
        "CreatedTimestamp": ts(u.created),
        "LastUpdatedTimestamp": ts(u.updated),
        "ExpirationSettings": user_expiration(u),
    }
    return _clean(shape)


def app_instance_user_summary(u: AppInstanceUser) -> IdentityAppInstanceUserSummary:
    shape: IdentityAppInstanceUserSummary = {
        "AppInstanceUserArn": u.arn,
        "Name": u.name,
        "Metadata": u.metadata,
    }
    return _clean(shape)


def app_instance_admin(a: Admin, names: Names, ts: Timestamp = rest_ts) -> IdentityAppInstanceAdmin:
    shape: IdentityAppInstanceAdmin = {
        "Admin": identity(a.admin_arn, names),
        "AppInstanceArn": a.app_instance_arn,
        "CreatedTimestamp": ts(a.created),
    }
    return _clean(shape)


def channel_expiration(c: Channel) -> MessagingExpirationSettings | None:
    if c.expiration_days is None or c.expiration_criterion is None:
        return None  # both or neither: the model requires both
    return {"ExpirationDays": c.expiration_days, "ExpirationCriterion": c.expiration_criterion}


def channel(c: Channel, names: Names, ts: Timestamp = rest_ts) -> MessagingChannel:
    shape: MessagingChannel = {
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
    return _clean(shape)


def channel_summary(c: Channel, ts: Timestamp = rest_ts) -> MessagingChannelSummary:
    shape: MessagingChannelSummary = {
        "Name": c.name,
        "ChannelArn": c.arn,
        "Mode": c.mode,
        "Privacy": c.privacy,
        "Metadata": c.metadata,
        "LastMessageTimestamp": ts(c.last_message),
    }
    return _clean(shape)


def _message_members(
    shape: dict[str, Any], m: Message, ts: Timestamp, persistence: str | None
) -> None:
    """A message's members after ChannelArn, in the model's order, those without a value left
    out as ``_clean`` would: built directly, as every message event, listed message and
    prefetched message needs one (0.5 against 1.2 µs a message)."""
    shape["MessageId"] = m.message_id
    redacted = m.redacted
    if not redacted:
        if m.content is not None:
            shape["Content"] = m.content
        if m.metadata is not None:
            shape["Metadata"] = m.metadata
    shape["Type"] = m.type
    shape["CreatedTimestamp"] = ts(m.created)
    if m.last_edited is not None:
        shape["LastEditedTimestamp"] = ts(m.last_edited)
    shape["LastUpdatedTimestamp"] = ts(m.last_updated)
    name = m.sender_name
    shape["Sender"] = {"Arn": m.sender_arn, "Name": name} if name else {"Arn": m.sender_arn}
    shape["Redacted"] = redacted
    if persistence is not None:
        shape["Persistence"] = persistence
    shape["Status"] = {"Value": m.status}
    if not redacted:
        if m.attributes is not None:
            shape["MessageAttributes"] = m.attributes
        if m.content_type is not None:
            shape["ContentType"] = m.content_type
    if m.target_arn:
        shape["Target"] = [{"MemberArn": m.target_arn}]


def channel_message(m: Message, ts: Timestamp = rest_ts) -> MessagingChannelMessage:
    shape: dict[str, Any] = {"ChannelArn": m.channel_arn}
    _message_members(shape, m, ts, m.persistence)
    if m.sub_channel_id is not None:
        shape["SubChannelId"] = m.sub_channel_id
    return cast(MessagingChannelMessage, shape)


def channel_message_summary(m: Message, ts: Timestamp = rest_ts) -> MessagingChannelMessageSummary:
    # channel_message's members and order without ChannelArn, Persistence and SubChannelId.
    shape: dict[str, Any] = {}
    _message_members(shape, m, ts, None)
    return cast(MessagingChannelMessageSummary, shape)


def channel_membership(
    m: Membership, names: Names, ts: Timestamp = rest_ts
) -> MessagingChannelMembership:
    shape: MessagingChannelMembership = {
        "InvitedBy": identity(m.invited_by, names),
        "Type": m.type,
        "Member": identity(m.member_arn, names),
        "ChannelArn": m.channel_arn,
        "CreatedTimestamp": ts(m.created),
        "LastUpdatedTimestamp": ts(m.updated),
        "SubChannelId": m.sub_channel_id,
    }
    return _clean(shape)


def channel_membership_summary(
    m: Membership, names: Names, ts: Timestamp = rest_ts
) -> MembershipSummary:
    return member_summary(MemberSummary(m.member_arn, names.get(m.member_arn), m.read_marker), ts)


def member_summary(m: MemberSummary, ts: Timestamp = rest_ts) -> MembershipSummary:
    # Built without _clean or identity: a CHANNEL_DETAILS frame holds dozens of these.
    member: MessagingIdentity = (
        {"Arn": m.member_arn} if m.name is None else {"Arn": m.member_arn, "Name": m.name}
    )
    if m.read_marker is None:
        return {"Member": member}
    return {"Member": member, "ReadMarkerTimestamp": ts(m.read_marker)}


def channel_moderator(
    m: Moderator, names: Names, ts: Timestamp = rest_ts
) -> MessagingChannelModerator:
    shape: MessagingChannelModerator = {
        "Moderator": identity(m.moderator_arn, names),
        "ChannelArn": m.channel_arn,
        "CreatedTimestamp": ts(m.created),
        "CreatedBy": identity(m.created_by, names),
    }
    return _clean(shape)


def channel_ban(b: Ban, names: Names, ts: Timestamp = rest_ts) -> MessagingChannelBan:
    shape: MessagingChannelBan = {
        "Member": identity(b.member_arn, names),
        "ChannelArn": b.channel_arn,
        "CreatedTimestamp": ts(b.created),
        "CreatedBy": identity(b.created_by, names),
    }
    return _clean(shape)
