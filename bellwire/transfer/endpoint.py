"""Reading a live endpoint (AWS itself, or another bellwire) through the official client.

Yields the same records as an export file, built from the APIs' answers: List* calls find the
resources (every page), Describe* calls add what listings leave out (timestamps, who created or
invited, the membership type), and the membership calls "for an app instance user" add read
markers. Channels and messages are read as an AppInstanceAdmin (``--bearer``, or the instance's
first admin): only an admin sees every channel, PRIVATE ones included. Messages are listed oldest
first, so the target gives them the same order.

An elastic channel is read sub-channel by sub-channel (ListSubChannels, then
ListChannelMemberships, DescribeChannelMembership and ListChannelMessages with each SubChannelId),
in the order an export file has: the channel, its sub-channels in the listing's order (their
creation order), its moderators, the memberships of each sub-channel, bans, then the messages of
every sub-channel merged by time. (The moderators come before the memberships on a regular
channel too: its import takes either order.) No API shows when a sub-channel was created: its
record carries the channel's creation time. Elastic channels have no read markers, preferences
or HIDDEN memberships to read.

Messages targeted at a member are visible only to their sender and target, so not to the admin:
with ``targeted``, each channel (each sub-channel) is also listed as each of its members to find
them. What no API shows cannot be copied: deleted messages, push-notification settings of
messages, access key secrets.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from bellwire.transfer import records as fmt
from bellwire.transfer.importer import ImportFailed, Item


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value)


def _pages(call: Callable[..., Any], key: str, **params: Any) -> Iterator[Any]:
    """Every item of a Chime listing, page after page."""
    token: str | None = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        yield from page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return


def _iam_pages(call: Callable[..., Any], key: str, **params: Any) -> Iterator[Any]:
    marker: str | None = None
    while True:
        page = call(**params, **({"Marker": marker} if marker else {}))
        yield from page.get(key) or []
        if not page.get("IsTruncated"):
            return
        marker = page.get("Marker")


def _message_order(m: dict[str, Any]) -> tuple[float, str]:
    return (_ts(m.get("CreatedTimestamp")) or 0.0, str(m["MessageId"]))


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _document(value: Any) -> str:
    # botocore decodes IAM policy documents into objects; the format keeps them as text.
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _record(type_: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": type_, **{k: v for k, v in fields.items() if v is not None and v != {}}}


class EndpointReader:
    def __init__(
        self,
        identity: Any,
        messaging: Any,
        iam: Any | None = None,
        *,
        app_instance_arns: list[str] | None = None,
        bearers: list[str] | None = None,
        targeted: bool = False,
    ) -> None:
        self.identity = identity
        self.messaging = messaging
        self.iam = iam
        self.app_instance_arns = app_instance_arns
        self.bearers = bearers or []
        self.targeted = targeted
        self.notes: list[str] = []  # what was found but could not be copied, for the operator

    def items(self) -> Iterator[Item]:
        arns = self.app_instance_arns or [
            a["AppInstanceArn"]
            for a in _pages(self.identity.list_app_instances, "AppInstances", MaxResults=50)
        ]
        for arn in arns:
            yield from self._app_instance(arn)
        if self.iam is not None:
            yield from self._iam()

    # --- identity ------------------------------------------------------------------------------

    def _app_instance(self, arn: str) -> Iterator[Item]:
        idn = self.identity
        ai = idn.describe_app_instance(AppInstanceArn=arn)["AppInstance"]
        retention = idn.get_app_instance_retention_settings(AppInstanceArn=arn).get(
            "AppInstanceRetentionSettings", {}
        )
        yield (
            arn,
            _record(
                fmt.APP_INSTANCE,
                {
                    "AppInstanceArn": arn,
                    "Name": ai["Name"],
                    "Metadata": ai.get("Metadata"),
                    "CreatedTimestamp": _ts(ai.get("CreatedTimestamp")),
                    "LastUpdatedTimestamp": _ts(ai.get("LastUpdatedTimestamp")),
                    "ChannelRetentionDays": (retention.get("ChannelRetentionSettings") or {}).get(
                        "RetentionDays"
                    ),
                    "Tags": _tags(idn.list_tags_for_resource(ResourceARN=arn).get("Tags")),
                },
            ),
            0,
        )
        for summary in _pages(
            idn.list_app_instance_users, "AppInstanceUsers", AppInstanceArn=arn, MaxResults=50
        ):
            user_arn = summary["AppInstanceUserArn"]
            u = idn.describe_app_instance_user(AppInstanceUserArn=user_arn)["AppInstanceUser"]
            expiration = u.get("ExpirationSettings") or {}
            yield (
                user_arn,
                _record(
                    fmt.USER,
                    {
                        "AppInstanceUserArn": user_arn,
                        "AppInstanceArn": arn,
                        "Name": u["Name"],
                        "Metadata": u.get("Metadata"),
                        "CreatedTimestamp": _ts(u.get("CreatedTimestamp")),
                        "LastUpdatedTimestamp": _ts(u.get("LastUpdatedTimestamp")),
                        "ExpirationDays": expiration.get("ExpirationDays"),
                        "ExpirationCriterion": expiration.get("ExpirationCriterion"),
                        "Tags": _tags(idn.list_tags_for_resource(ResourceARN=user_arn).get("Tags")),
                    },
                ),
                0,
            )
        admins: list[str] = []
        for summary in _pages(
            idn.list_app_instance_admins, "AppInstanceAdmins", AppInstanceArn=arn, MaxResults=50
        ):
            admin_arn = summary["Admin"]["Arn"]
            admins.append(admin_arn)
            a = idn.describe_app_instance_admin(AppInstanceArn=arn, AppInstanceAdminArn=admin_arn)[
                "AppInstanceAdmin"
            ]
            yield (
                f"{arn} admin {admin_arn}",
                _record(
                    fmt.ADMIN,
                    {
                        "AppInstanceArn": arn,
                        "AdminArn": admin_arn,
                        "CreatedTimestamp": _ts(a.get("CreatedTimestamp")),
                    },
                ),
                0,
            )
        given = [b for b in self.bearers if b.startswith(arn + "/user/")]
        bearer = given[0] if given else (admins[0] if admins else None)
        if bearer is None:
            raise ImportFailed(
                f"{arn}: the app instance has no AppInstanceAdmin to read its channels as; "
                "create one (CreateAppInstanceAdmin) or pass --bearer"
            )
        yield from self._channels(arn, bearer)

    # --- messaging -----------------------------------------------------------------------------

    def _channels(self, app_arn: str, bearer: str) -> Iterator[Item]:
        msg = self.messaging
        for privacy in ("PUBLIC", "PRIVATE"):
            for summary in _pages(
                msg.list_channels,
                "Channels",
                AppInstanceArn=app_arn,
                ChimeBearer=bearer,
                Privacy=privacy,
                MaxResults=50,
            ):
                yield from self._channel(app_arn, summary["ChannelArn"], bearer)

    def _channel(self, app_arn: str, arn: str, bearer: str) -> Iterator[Item]:
        msg = self.messaging
        c = msg.describe_channel(ChannelArn=arn, ChimeBearer=bearer)["Channel"]
        if c.get("ChannelFlowArn"):
            self.notes.append(f"{arn}: copied without its channel flow (flows are not copied)")
        expiration = c.get("ExpirationSettings") or {}
        config = c.get("ElasticChannelConfiguration")
        created = _ts(c.get("CreatedTimestamp"))
        yield (
            arn,
            _record(
                fmt.CHANNEL,
                {
                    "ChannelArn": arn,
                    "AppInstanceArn": app_arn,
                    "Name": c["Name"],
                    "Mode": c.get("Mode"),
                    "Privacy": c.get("Privacy"),
                    "Metadata": c.get("Metadata"),
                    "CreatedByArn": (c.get("CreatedBy") or {}).get("Arn"),
                    "CreatedTimestamp": created,
                    "LastUpdatedTimestamp": _ts(c.get("LastUpdatedTimestamp")),
                    "LastMessageTimestamp": _ts(c.get("LastMessageTimestamp")),
                    "ExpirationDays": expiration.get("ExpirationDays"),
                    "ExpirationCriterion": expiration.get("ExpirationCriterion"),
                    "ElasticChannelConfiguration": config,
                    "Tags": _tags(msg.list_tags_for_resource(ResourceARN=arn).get("Tags")),
                },
            ),
            0,
        )
        common = {"ChannelArn": arn, "ChimeBearer": bearer}
        subs: list[str | None] = [None]  # a regular channel is read as one whole
        if config is not None:
            # In the listing's order, which is their creation order (the import keeps it:
            # balancing breaks ties by it). No API shows when a sub-channel was created: the
            # channel's creation time stands for it.
            subs = [
                s["SubChannelId"]
                for s in _pages(msg.list_sub_channels, "SubChannels", MaxResults=50, **common)
            ]
            for sub in subs:
                yield (
                    f"{arn} sub-channel {sub}",
                    _record(
                        fmt.SUB_CHANNEL,
                        {"ChannelArn": arn, "SubChannelId": sub, "CreatedTimestamp": created},
                    ),
                    0,
                )
        # The moderators before the memberships: on an elastic channel a moderator's
        # memberships (one per sub-channel it joined) are imported as a moderator's.
        for summary in _pages(
            msg.list_channel_moderators, "ChannelModerators", MaxResults=50, **common
        ):
            who = summary["Moderator"]["Arn"]
            m = msg.describe_channel_moderator(ChannelModeratorArn=who, **common)[
                "ChannelModerator"
            ]
            yield (
                f"{arn} moderator {who}",
                _record(
                    fmt.MODERATOR,
                    {
                        "ChannelArn": arn,
                        "ModeratorArn": who,
                        "CreatedByArn": (m.get("CreatedBy") or {}).get("Arn"),
                        "CreatedTimestamp": _ts(m.get("CreatedTimestamp")),
                    },
                ),
                0,
            )
        # Who is in each sub-channel, for --targeted-messages. Elastic channels have no HIDDEN
        # memberships.
        members: dict[str | None, list[str]] = {}
        for sub in subs:
            members[sub] = []
            for type_ in ("DEFAULT", "HIDDEN") if sub is None else ("DEFAULT",):
                for summary in _pages(
                    msg.list_channel_memberships,
                    "ChannelMemberships",
                    Type=type_,
                    MaxResults=50,
                    **common,
                    **({"SubChannelId": sub} if sub else {}),
                ):
                    members[sub].append(summary["Member"]["Arn"])
                    yield self._membership(arn, summary["Member"]["Arn"], bearer, sub)
        for summary in _pages(msg.list_channel_bans, "ChannelBans", MaxResults=50, **common):
            who = summary["Member"]["Arn"]
            b = msg.describe_channel_ban(MemberArn=who, **common)["ChannelBan"]
            yield (
                f"{arn} ban {who}",
                _record(
                    fmt.BAN,
                    {
                        "ChannelArn": arn,
                        "MemberArn": who,
                        "CreatedByArn": (b.get("CreatedBy") or {}).get("Arn"),
                        "CreatedTimestamp": _ts(b.get("CreatedTimestamp")),
                    },
                ),
                0,
            )
        # Each sub-channel's messages in its order; the sub-channels merged by time, so the
        # target numbers the channel's messages as the source did.
        streams = [
            self._sub_channel_messages(arn, bearer, sub, who) for sub, who in members.items()
        ]
        for sub, m in heapq.merge(*streams, key=lambda pair: _message_order(pair[1])):
            target = (m.get("Target") or [{}])[0].get("MemberArn")
            yield (
                f"{arn} message {m['MessageId']}",
                _record(
                    fmt.MESSAGE,
                    {
                        "ChannelArn": arn,
                        "MessageId": m["MessageId"],
                        "Type": m.get("Type"),
                        "Persistence": "PERSISTENT",  # listings hold only persistent messages
                        "SenderArn": (m.get("Sender") or {}).get("Arn"),
                        "SenderName": (m.get("Sender") or {}).get("Name"),
                        "Content": m.get("Content"),
                        "Metadata": m.get("Metadata"),
                        "ContentType": m.get("ContentType"),
                        "MessageAttributes": m.get("MessageAttributes"),
                        "Redacted": bool(m.get("Redacted")),
                        "Status": (m.get("Status") or {}).get("Value"),
                        "CreatedTimestamp": _ts(m.get("CreatedTimestamp")),
                        "LastUpdatedTimestamp": _ts(m.get("LastUpdatedTimestamp")),
                        "LastEditedTimestamp": _ts(m.get("LastEditedTimestamp")),
                        "TargetArn": target,
                        "SubChannelId": sub,
                    },
                ),
                0,
            )

    def _sub_channel_messages(
        self, channel_arn: str, bearer: str, sub: str | None, members: list[str]
    ) -> Iterator[tuple[str | None, dict[str, Any]]]:
        """The messages of one sub-channel (``sub``; None: a regular channel), oldest first,
        with the targeted ones if asked; each with its sub-channel."""
        messages: Iterator[dict[str, Any]] = self._messages(channel_arn, bearer, sub)
        if self.targeted:
            found = self._targeted(channel_arn, bearer, members, sub)
            # Both are in the channel's order: merge, so the target numbers them as the source.
            messages = heapq.merge(
                messages, sorted(found.values(), key=_message_order), key=_message_order
            )
        for m in messages:
            yield sub, m

    def _messages(
        self, channel_arn: str, reader: str, sub: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The channel's (or its sub-channel's) messages as ``reader`` sees them, oldest first."""
        return _pages(
            self.messaging.list_channel_messages,
            "ChannelMessages",
            ChannelArn=channel_arn,
            ChimeBearer=reader,
            SortOrder="ASCENDING",
            MaxResults=50,
            **({"SubChannelId": sub} if sub else {}),
        )

    def _targeted(
        self, channel_arn: str, bearer: str, members: list[str], sub: str | None
    ) -> dict[str, dict[str, Any]]:
        """Messages targeted at someone, which the admin reading does not see: each member
        sees those it sent or received. Costs one listing of the channel (or sub-channel) per
        member."""
        found: dict[str, dict[str, Any]] = {}
        for member in members:
            if member == bearer:
                continue
            for m in self._messages(channel_arn, member, sub):
                target = (m.get("Target") or [{}])[0].get("MemberArn")
                sender = (m.get("Sender") or {}).get("Arn")
                if target and bearer not in (target, sender):
                    found.setdefault(m["MessageId"], m)
        return found

    def _membership(
        self, channel_arn: str, member: str, bearer: str, sub: str | None = None
    ) -> Item:
        """One membership; of the sub-channel ``sub`` on an elastic channel, which has no read
        markers nor preferences to read."""
        msg = self.messaging
        common = {"ChannelArn": channel_arn, "ChimeBearer": bearer}
        if sub is None:
            m = msg.describe_channel_membership(MemberArn=member, **common)["ChannelMembership"]
            mine = msg.describe_channel_membership_for_app_instance_user(
                AppInstanceUserArn=member, **common
            )["ChannelMembership"].get("AppInstanceUserMembershipSummary", {})
            preferences = msg.get_channel_membership_preferences(MemberArn=member, **common).get(
                "Preferences"
            )
            key = f"{channel_arn} member {member}"
        else:
            m = msg.describe_channel_membership(MemberArn=member, SubChannelId=sub, **common)[
                "ChannelMembership"
            ]
            mine, preferences = {}, None
            key = f"{channel_arn} member {member} in {sub}"
        return (
            key,
            _record(
                fmt.MEMBERSHIP,
                {
                    "ChannelArn": channel_arn,
                    "MemberArn": member,
                    "Type": m.get("Type") or mine.get("Type"),
                    "InvitedByArn": (m.get("InvitedBy") or {}).get("Arn"),
                    "CreatedTimestamp": _ts(m.get("CreatedTimestamp")),
                    "LastUpdatedTimestamp": _ts(m.get("LastUpdatedTimestamp")),
                    "ReadMarkerTimestamp": _ts(mine.get("ReadMarkerTimestamp")),
                    "Preferences": preferences or None,
                    "SubChannelId": m.get("SubChannelId") or sub,
                },
            ),
            0,
        )

    # --- IAM -----------------------------------------------------------------------------------

    def _iam(self) -> Iterator[Item]:
        iam = self.iam
        assert iam is not None
        for summary in _iam_pages(iam.list_users, "Users"):
            name = summary["UserName"]
            u = iam.get_user(UserName=name)["User"]
            policies = {
                p: _document(iam.get_user_policy(UserName=name, PolicyName=p)["PolicyDocument"])
                for p in _iam_pages(iam.list_user_policies, "PolicyNames", UserName=name)
            }
            yield (
                f"IAM user {name}",
                _record(
                    fmt.IAM_USER,
                    {
                        "UserName": name,
                        "UserId": u["UserId"],
                        "Path": u.get("Path", "/"),
                        "CreateDate": _ts(u.get("CreateDate")),
                        "Tags": _tags(u.get("Tags")),
                        "Policies": policies,
                    },
                ),
                0,
            )
            for key in _iam_pages(iam.list_access_keys, "AccessKeyMetadata", UserName=name):
                yield (
                    f"IAM access key {key['AccessKeyId']}",
                    _record(
                        fmt.IAM_ACCESS_KEY,
                        {
                            "UserName": name,
                            "AccessKeyId": key["AccessKeyId"],
                            "Status": key["Status"],
                            "CreateDate": _ts(key.get("CreateDate")),
                        },
                    ),
                    0,
                )
        for summary in _iam_pages(iam.list_roles, "Roles"):
            name = summary["RoleName"]
            r = iam.get_role(RoleName=name)["Role"]
            policies = {
                p: _document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                for p in _iam_pages(iam.list_role_policies, "PolicyNames", RoleName=name)
            }
            yield (
                f"IAM role {name}",
                _record(
                    fmt.IAM_ROLE,
                    {
                        "RoleName": name,
                        "RoleId": r["RoleId"],
                        "Path": r.get("Path", "/"),
                        "Description": r.get("Description"),
                        "AssumeRolePolicyDocument": _document(r["AssumeRolePolicyDocument"]),
                        "MaxSessionDuration": r.get("MaxSessionDuration", 3600),
                        "CreateDate": _ts(r.get("CreateDate")),
                        "Tags": _tags(r.get("Tags")),
                        "Policies": policies,
                    },
                ),
                0,
            )
