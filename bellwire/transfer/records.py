"""The export format: one JSON object per line, each with a ``type``, checked and converted here.

Pure: no I/O. The format is an interface of its own, independent of the database schema, so an
export made by one version of bellwire imports into another. Field names follow the AWS APIs'
(``ChannelArn``, ``CreatedTimestamp``); every timestamp is epoch seconds (a JSON number, exact
to the stored float); a field that is absent means "none". Unknown types and unknown fields are
refused: a misspelt field silently dropped would be data lost without a word.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bellwire.domain import elastic
from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    ElasticConfiguration,
    Membership,
    Message,
    Moderator,
    SubChannel,
)
from bellwire.records.iam import AccessKey, IamRole, IamUser

FORMAT: Final = "bellwire-export"
# 2: elastic channels (their configuration, sub-channels, and the SubChannelId of memberships
# and messages). A version 1 file has no elastic channel: it reads the same as before.
VERSION: Final = 2

HEADER: Final = "header"
APP_INSTANCE: Final = "app_instance"
USER: Final = "app_instance_user"
ADMIN: Final = "app_instance_admin"
CHANNEL: Final = "channel"
SUB_CHANNEL: Final = "sub_channel"
MEMBERSHIP: Final = "channel_membership"
MODERATOR: Final = "channel_moderator"
BAN: Final = "channel_ban"
MESSAGE: Final = "channel_message"
MESSAGE_STATUSES: Final = ("SENT", "PENDING", "FAILED")
IAM_USER: Final = "iam_user"
IAM_ACCESS_KEY: Final = "iam_access_key"
IAM_ROLE: Final = "iam_role"


class FormatError(Exception):
    """A record that is not valid in the export format; the message names the field."""


# A field's kind: "str", "ts" (epoch seconds), "int", "bool", "strmap" (object of strings),
# "object" (any JSON object), or a tuple of the allowed strings.
_Kind = str | tuple[str, ...]
_REQ: Final = True
_OPT: Final = False

_SCHEMAS: Final[dict[str, dict[str, tuple[_Kind, bool]]]] = {
    HEADER: {
        "format": ("str", _REQ),
        "version": ("int", _REQ),
        "created": ("ts", _OPT),
        "source": ("str", _OPT),
        "secrets": ("bool", _OPT),
    },
    APP_INSTANCE: {
        "AppInstanceArn": ("str", _REQ),
        "Name": ("str", _REQ),
        "Metadata": ("str", _OPT),
        "CreatedTimestamp": ("ts", _REQ),
        "LastUpdatedTimestamp": ("ts", _REQ),
        "ChannelRetentionDays": ("int", _OPT),
        "Tags": ("strmap", _OPT),
    },
    USER: {
        "AppInstanceUserArn": ("str", _REQ),
        "AppInstanceArn": ("str", _REQ),
        "Name": ("str", _REQ),
        "Metadata": ("str", _OPT),
        "CreatedTimestamp": ("ts", _REQ),
        "LastUpdatedTimestamp": ("ts", _REQ),
        "ExpirationDays": ("int", _OPT),
        "ExpirationCriterion": (("CREATED_TIMESTAMP",), _OPT),
        "Tags": ("strmap", _OPT),
    },
    ADMIN: {
        "AppInstanceArn": ("str", _REQ),
        "AdminArn": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
    },
    CHANNEL: {
        "ChannelArn": ("str", _REQ),
        "AppInstanceArn": ("str", _REQ),
        "Name": ("str", _REQ),
        "Mode": (("UNRESTRICTED", "RESTRICTED"), _REQ),
        "Privacy": (("PUBLIC", "PRIVATE"), _REQ),
        "Metadata": ("str", _OPT),
        "CreatedByArn": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
        "LastUpdatedTimestamp": ("ts", _REQ),
        "LastMessageTimestamp": ("ts", _OPT),
        "ExpirationDays": ("int", _OPT),
        "ExpirationCriterion": (("CREATED_TIMESTAMP", "LAST_MESSAGE_TIMESTAMP"), _OPT),
        "ElasticChannelConfiguration": ("object", _OPT),
        "Tags": ("strmap", _OPT),
    },
    SUB_CHANNEL: {
        "ChannelArn": ("str", _REQ),
        "SubChannelId": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
    },
    MEMBERSHIP: {
        "ChannelArn": ("str", _REQ),
        "MemberArn": ("str", _REQ),
        "Type": (("DEFAULT", "HIDDEN"), _REQ),
        "InvitedByArn": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
        "LastUpdatedTimestamp": ("ts", _REQ),
        "ReadMarkerTimestamp": ("ts", _OPT),
        "Preferences": ("object", _OPT),
        "SubChannelId": ("str", _OPT),  # elastic channels only
    },
    MODERATOR: {
        "ChannelArn": ("str", _REQ),
        "ModeratorArn": ("str", _REQ),
        "CreatedByArn": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
    },
    BAN: {
        "ChannelArn": ("str", _REQ),
        "MemberArn": ("str", _REQ),
        "CreatedByArn": ("str", _REQ),
        "CreatedTimestamp": ("ts", _REQ),
    },
    MESSAGE: {
        "ChannelArn": ("str", _REQ),
        "MessageId": ("str", _REQ),
        "Type": (("STANDARD", "CONTROL"), _REQ),
        "Persistence": (("PERSISTENT",), _REQ),
        "SenderArn": ("str", _REQ),
        "SenderName": ("str", _OPT),
        "Content": ("str", _OPT),
        "Metadata": ("str", _OPT),
        "ContentType": ("str", _OPT),
        "MessageAttributes": ("object", _OPT),
        "Redacted": ("bool", _REQ),
        # A channel flow's states that are stored (a DENIED message is not); absent: SENT.
        "Status": (MESSAGE_STATUSES, _OPT),
        "CreatedTimestamp": ("ts", _REQ),
        "LastUpdatedTimestamp": ("ts", _REQ),
        "LastEditedTimestamp": ("ts", _OPT),
        "TargetArn": ("str", _OPT),
        "PushNotification": ("object", _OPT),
        "SubChannelId": ("str", _OPT),  # elastic channels only
    },
    IAM_USER: {
        "UserName": ("str", _REQ),
        "UserId": ("str", _REQ),
        "Path": ("str", _REQ),
        "CreateDate": ("ts", _REQ),
        "Tags": ("strmap", _OPT),
        "Policies": ("strmap", _OPT),
    },
    IAM_ACCESS_KEY: {
        "UserName": ("str", _REQ),
        "AccessKeyId": ("str", _REQ),
        "Status": (("Active", "Inactive"), _REQ),
        "CreateDate": ("ts", _REQ),
        "SecretAccessKey": ("str", _OPT),
    },
    IAM_ROLE: {
        "RoleName": ("str", _REQ),
        "RoleId": ("str", _REQ),
        "Path": ("str", _REQ),
        "Description": ("str", _OPT),
        "AssumeRolePolicyDocument": ("str", _REQ),
        "MaxSessionDuration": ("int", _REQ),
        "CreateDate": ("ts", _REQ),
        "Tags": ("strmap", _OPT),
        "Policies": ("strmap", _OPT),
    },
}

TYPES: Final = tuple(t for t in _SCHEMAS if t != HEADER)
ELASTIC_FIELDS: Final = (
    "MaximumSubChannels",
    "TargetMembershipsPerSubChannel",
    "MinimumMembershipPercentage",
)


def _kind_ok(kind: _Kind, value: Any) -> bool:
    if isinstance(kind, tuple):
        return value in kind
    if kind == "str":
        return isinstance(value, str)
    if kind == "ts":
        return (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= 0
        )
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "strmap":
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
    if kind == "object":
        return isinstance(value, dict)
    raise AssertionError(kind)


def _expected(kind: _Kind) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(kind)
    return {
        "str": "a string",
        "ts": "a timestamp in epoch seconds (a non-negative number)",
        "int": "an integer",
        "bool": "true or false",
        "strmap": "an object of strings",
        "object": "a JSON object",
    }[kind]


def check(record: Any) -> dict[str, Any]:
    """The record if it is valid in the format; raise :class:`FormatError` otherwise."""
    if not isinstance(record, dict):
        raise FormatError("a record must be a JSON object")
    type_ = record.get("type")
    if not isinstance(type_, str):
        raise FormatError('a record must have a "type"')
    schema = _SCHEMAS.get(type_)
    if schema is None:
        raise FormatError(f"unknown record type {type_!r} (known: {', '.join(_SCHEMAS)})")
    for name, value in record.items():
        if name == "type":
            continue
        if name not in schema:
            raise FormatError(f"{type_}: unknown field {name!r}")
        kind, _ = schema[name]
        if value is not None and not _kind_ok(kind, value):
            raise FormatError(f"{type_}: {name} must be {_expected(kind)}, got {value!r}"[:300])
    for name, (_, required) in schema.items():
        if required and record.get(name) is None:
            raise FormatError(f"{type_}: the field {name} is missing")
    if ("ExpirationDays" in schema) and (
        (record.get("ExpirationDays") is None) != (record.get("ExpirationCriterion") is None)
    ):
        raise FormatError(f"{type_}: ExpirationDays and ExpirationCriterion go together")
    config = record.get("ElasticChannelConfiguration")
    if config is not None and (
        set(config) != set(ELASTIC_FIELDS) or not all(_kind_ok("int", v) for v in config.values())
    ):
        raise FormatError(
            f"{type_}: ElasticChannelConfiguration must have the integers "
            f"{', '.join(ELASTIC_FIELDS)}, got {config!r}"[:300]
        )
    return record


def check_header(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("type") != HEADER:
        raise FormatError(
            f'not a bellwire export: the first line must be a {{"type": "{HEADER}"}} record'
        )
    check(record)
    if record["format"] != FORMAT:
        raise FormatError(f"not a bellwire export: format is {record['format']!r}")
    if record["version"] > VERSION:
        raise FormatError(
            f"the export is format version {record['version']}, newer than this bellwire "
            f"reads ({VERSION}); upgrade bellwire"
        )
    return record


def header(*, created: float, source: str, secrets: bool) -> dict[str, Any]:
    return {
        "type": HEADER,
        "format": FORMAT,
        "version": VERSION,
        "created": created,
        "source": source,
        "secrets": secrets,
    }


def _clean(type_: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": type_, **{k: v for k, v in fields.items() if v is not None and v != {}}}


# --- store records -> format ---------------------------------------------------------------------


def app_instance(
    ai: AppInstance, retention_days: int | None, tags: Mapping[str, str]
) -> dict[str, Any]:
    return _clean(
        APP_INSTANCE,
        {
            "AppInstanceArn": ai.arn,
            "Name": ai.name,
            "Metadata": ai.metadata,
            "CreatedTimestamp": ai.created,
            "LastUpdatedTimestamp": ai.updated,
            "ChannelRetentionDays": retention_days,
            "Tags": dict(tags),
        },
    )


def user(u: AppInstanceUser, tags: Mapping[str, str]) -> dict[str, Any]:
    return _clean(
        USER,
        {
            "AppInstanceUserArn": u.arn,
            "AppInstanceArn": u.app_instance_arn,
            "Name": u.name,
            "Metadata": u.metadata,
            "CreatedTimestamp": u.created,
            "LastUpdatedTimestamp": u.updated,
            "ExpirationDays": u.expiration_days,
            "ExpirationCriterion": u.expiration_criterion,
            "Tags": dict(tags),
        },
    )


def admin(a: Admin) -> dict[str, Any]:
    return _clean(
        ADMIN,
        {
            "AppInstanceArn": a.app_instance_arn,
            "AdminArn": a.admin_arn,
            "CreatedTimestamp": a.created,
        },
    )


def channel(c: Channel, tags: Mapping[str, str]) -> dict[str, Any]:
    return _clean(
        CHANNEL,
        {
            "ChannelArn": c.arn,
            "AppInstanceArn": c.app_instance_arn,
            "Name": c.name,
            "Mode": c.mode,
            "Privacy": c.privacy,
            "Metadata": c.metadata,
            "CreatedByArn": c.created_by,
            "CreatedTimestamp": c.created,
            "LastUpdatedTimestamp": c.updated,
            "LastMessageTimestamp": c.last_message,
            "ExpirationDays": c.expiration_days,
            "ExpirationCriterion": c.expiration_criterion,
            "ElasticChannelConfiguration": None
            if c.elastic is None
            else dict(elastic.configuration_shape(c.elastic)),
            "Tags": dict(tags),
        },
    )


def sub_channel(s: SubChannel) -> dict[str, Any]:
    return _clean(
        SUB_CHANNEL,
        {
            "ChannelArn": s.channel_arn,
            "SubChannelId": s.sub_channel_id,
            "CreatedTimestamp": s.created,
        },
    )


def membership(m: Membership) -> dict[str, Any]:
    return _clean(
        MEMBERSHIP,
        {
            "ChannelArn": m.channel_arn,
            "MemberArn": m.member_arn,
            "Type": m.type,
            "InvitedByArn": m.invited_by,
            "CreatedTimestamp": m.created,
            "LastUpdatedTimestamp": m.updated,
            "ReadMarkerTimestamp": m.read_marker,
            "Preferences": None if m.preferences is None else dict(m.preferences),
            "SubChannelId": m.sub_channel_id or None,
        },
    )


def moderator(m: Moderator) -> dict[str, Any]:
    return _clean(
        MODERATOR,
        {
            "ChannelArn": m.channel_arn,
            "ModeratorArn": m.moderator_arn,
            "CreatedByArn": m.created_by,
            "CreatedTimestamp": m.created,
        },
    )


def ban(b: Ban) -> dict[str, Any]:
    return _clean(
        BAN,
        {
            "ChannelArn": b.channel_arn,
            "MemberArn": b.member_arn,
            "CreatedByArn": b.created_by,
            "CreatedTimestamp": b.created,
        },
    )


def message(m: Message) -> dict[str, Any]:
    return _clean(
        MESSAGE,
        {
            "ChannelArn": m.channel_arn,
            "MessageId": m.message_id,
            "Type": m.type,
            "Persistence": m.persistence,
            "SenderArn": m.sender_arn,
            "SenderName": m.sender_name or None,
            "Content": m.content,
            "Metadata": m.metadata,
            "ContentType": m.content_type,
            "MessageAttributes": None if m.attributes is None else dict(m.attributes),
            "Redacted": m.redacted,
            "Status": m.status,
            "CreatedTimestamp": m.created,
            "LastUpdatedTimestamp": m.last_updated,
            "LastEditedTimestamp": m.last_edited,
            "TargetArn": m.target_arn,
            "PushNotification": None if m.push is None else dict(m.push),
            "SubChannelId": m.sub_channel_id or None,
        },
    )


def iam_user(u: IamUser, policies: Mapping[str, str]) -> dict[str, Any]:
    return _clean(
        IAM_USER,
        {
            "UserName": u.name,
            "UserId": u.user_id,
            "Path": u.path,
            "CreateDate": u.created,
            "Tags": dict(u.tags),
            "Policies": dict(policies),
        },
    )


def iam_access_key(k: AccessKey, *, secret: bool) -> dict[str, Any]:
    return _clean(
        IAM_ACCESS_KEY,
        {
            "UserName": k.user_name,
            "AccessKeyId": k.access_key_id,
            "Status": k.status,
            "CreateDate": k.created,
            "SecretAccessKey": k.secret if secret else None,
        },
    )


def iam_role(r: IamRole, policies: Mapping[str, str]) -> dict[str, Any]:
    return _clean(
        IAM_ROLE,
        {
            "RoleName": r.name,
            "RoleId": r.role_id,
            "Path": r.path,
            "Description": r.description,
            "AssumeRolePolicyDocument": r.trust_policy,
            "MaxSessionDuration": r.max_session_duration,
            "CreateDate": r.created,
            "Tags": dict(r.tags),
            "Policies": dict(policies),
        },
    )


# --- format -> store records (on checked records) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tagged:
    """A resource with the tags and settings the format keeps beside it."""

    resource: Any
    tags: Mapping[str, str]
    retention_days: int | None = None
    policies: Mapping[str, str] | None = None


def _elastic(raw: Mapping[str, int] | None) -> ElasticConfiguration | None:
    if raw is None:
        return None
    return ElasticConfiguration(*(raw[name] for name in ELASTIC_FIELDS))


def to_store(r: Mapping[str, Any]) -> Any:
    """The store record(s) of a checked format record."""
    t = r["type"]
    g = r.get
    if t == APP_INSTANCE:
        ai = AppInstance(
            r["AppInstanceArn"],
            r["Name"],
            g("Metadata"),
            r["CreatedTimestamp"],
            r["LastUpdatedTimestamp"],
        )
        return Tagged(ai, g("Tags") or {}, retention_days=g("ChannelRetentionDays"))
    if t == USER:
        u = AppInstanceUser(
            r["AppInstanceUserArn"],
            r["AppInstanceArn"],
            r["Name"],
            g("Metadata"),
            r["CreatedTimestamp"],
            r["LastUpdatedTimestamp"],
            g("ExpirationDays"),
            g("ExpirationCriterion"),
        )
        return Tagged(u, g("Tags") or {})
    if t == ADMIN:
        return Admin(r["AppInstanceArn"], r["AdminArn"], r["CreatedTimestamp"])
    if t == CHANNEL:
        c = Channel(
            arn=r["ChannelArn"],
            app_instance_arn=r["AppInstanceArn"],
            name=r["Name"],
            mode=r["Mode"],
            privacy=r["Privacy"],
            metadata=g("Metadata"),
            created_by=r["CreatedByArn"],
            created=r["CreatedTimestamp"],
            updated=r["LastUpdatedTimestamp"],
            last_message=g("LastMessageTimestamp"),
            seq=0,
            expiration_days=g("ExpirationDays"),
            expiration_criterion=g("ExpirationCriterion"),
            elastic=_elastic(g("ElasticChannelConfiguration")),
        )
        return Tagged(c, g("Tags") or {})
    if t == SUB_CHANNEL:
        # Ordinal and counts are the target's: the loader gives them as sub-channels and
        # memberships arrive.
        return SubChannel(r["ChannelArn"], r["SubChannelId"], 0, 0, 0, r["CreatedTimestamp"])
    if t == MEMBERSHIP:
        return Membership(
            r["ChannelArn"],
            r["MemberArn"],
            r["Type"],
            r["InvitedByArn"],
            r["CreatedTimestamp"],
            r["LastUpdatedTimestamp"],
            g("ReadMarkerTimestamp"),
            g("Preferences"),
            sub_channel_id=g("SubChannelId"),
        )
    if t == MODERATOR:
        return Moderator(
            r["ChannelArn"], r["ModeratorArn"], r["CreatedByArn"], r["CreatedTimestamp"]
        )
    if t == BAN:
        return Ban(r["ChannelArn"], r["MemberArn"], r["CreatedByArn"], r["CreatedTimestamp"])
    if t == MESSAGE:
        return Message(
            channel_arn=r["ChannelArn"],
            message_id=r["MessageId"],
            seq=0,  # the importing store gives it the channel's next sequence number
            sender_arn=r["SenderArn"],
            sender_name=g("SenderName") or "",
            content=g("Content"),
            metadata=g("Metadata"),
            type=r["Type"],
            persistence=r["Persistence"],
            redacted=r["Redacted"],
            created=r["CreatedTimestamp"],
            last_updated=r["LastUpdatedTimestamp"],
            last_edited=g("LastEditedTimestamp"),
            status=g("Status") or "SENT",
            attributes=g("MessageAttributes"),
            content_type=g("ContentType"),
            target_arn=g("TargetArn"),
            push=g("PushNotification"),
            sub_channel_id=g("SubChannelId"),
        )
    if t == IAM_USER:
        iu = IamUser(r["UserName"], r["UserId"], r["Path"], r["CreateDate"], g("Tags") or {})
        return Tagged(iu, {}, policies=g("Policies") or {})
    if t == IAM_ACCESS_KEY:
        return AccessKey(
            r["AccessKeyId"],
            r["UserName"],
            g("SecretAccessKey") or "",
            r["Status"],
            r["CreateDate"],
        )
    if t == IAM_ROLE:
        role = IamRole(
            name=r["RoleName"],
            role_id=r["RoleId"],
            path=r["Path"],
            description=g("Description"),
            trust_policy=r["AssumeRolePolicyDocument"],
            max_session_duration=r["MaxSessionDuration"],
            created=r["CreateDate"],
            tags=g("Tags") or {},
        )
        return Tagged(role, {}, policies=g("Policies") or {})
    raise FormatError(f"unknown record type {t!r}")
