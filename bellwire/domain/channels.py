"""chime-sdk-messaging: channels, memberships, moderators, bans and preferences (spec §4.4, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from bellwire import ids
from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, Conflict, Forbidden, NotFound, ResourceLimitExceeded
from bellwire.aws.shapes import (
    MessagingAppInstanceUserMembershipSummary,
    MessagingBatchChannelMemberships,
    MessagingBatchCreateChannelMembershipError,
    MessagingBatchCreateChannelMembershipRequest,
    MessagingBatchCreateChannelMembershipResponse,
    MessagingChannelMembershipPreferences,
    MessagingCreateChannelBanRequest,
    MessagingCreateChannelBanResponse,
    MessagingCreateChannelMembershipRequest,
    MessagingCreateChannelMembershipResponse,
    MessagingCreateChannelModeratorRequest,
    MessagingCreateChannelModeratorResponse,
    MessagingCreateChannelRequest,
    MessagingCreateChannelResponse,
    MessagingDeleteChannelBanRequest,
    MessagingDeleteChannelMembershipRequest,
    MessagingDeleteChannelModeratorRequest,
    MessagingDeleteChannelRequest,
    MessagingDescribeChannelBanRequest,
    MessagingDescribeChannelBanResponse,
    MessagingDescribeChannelMembershipForAppInstanceUserRequest,
    MessagingDescribeChannelMembershipForAppInstanceUserResponse,
    MessagingDescribeChannelMembershipRequest,
    MessagingDescribeChannelMembershipResponse,
    MessagingDescribeChannelModeratedByAppInstanceUserRequest,
    MessagingDescribeChannelModeratedByAppInstanceUserResponse,
    MessagingDescribeChannelModeratorRequest,
    MessagingDescribeChannelModeratorResponse,
    MessagingDescribeChannelRequest,
    MessagingDescribeChannelResponse,
    MessagingGetChannelMembershipPreferencesRequest,
    MessagingGetChannelMembershipPreferencesResponse,
    MessagingListChannelBansRequest,
    MessagingListChannelBansResponse,
    MessagingListChannelMembershipsForAppInstanceUserRequest,
    MessagingListChannelMembershipsForAppInstanceUserResponse,
    MessagingListChannelMembershipsRequest,
    MessagingListChannelMembershipsResponse,
    MessagingListChannelModeratorsRequest,
    MessagingListChannelModeratorsResponse,
    MessagingListChannelsModeratedByAppInstanceUserRequest,
    MessagingListChannelsModeratedByAppInstanceUserResponse,
    MessagingListChannelsRequest,
    MessagingListChannelsResponse,
    MessagingPutChannelExpirationSettingsRequest,
    MessagingPutChannelExpirationSettingsResponse,
    MessagingPutChannelMembershipPreferencesRequest,
    MessagingPutChannelMembershipPreferencesResponse,
    MessagingSearchChannelsRequest,
    MessagingSearchChannelsResponse,
    MessagingUpdateChannelRequest,
    MessagingUpdateChannelResponse,
    NoOutput,
)
from bellwire.domain import push_filter, shapes, sub_channels
from bellwire.domain.delivery import (
    BusEvent,
    ban_created,
    ban_deleted,
    channel_created,
    channel_deleted,
    channel_expiration_updated,
    channel_updated,
    membership_created,
    membership_deleted,
    memberships_batch_created,
    moderator_created,
    moderator_deleted,
)
from bellwire.domain.identity import require_app_instance
from bellwire.domain.operation import (
    Call,
    Result,
    decode_token,
    operation,
    page_size,
    paginate,
    remember,
    replay,
)
from bellwire.domain.roles import Actor, actor, bearer_user, is_admin, require_channel
from bellwire.records.chime import Ban, Channel, Membership, Moderator
from bellwire.store.base import Tx

MAX_MEMBERSHIPS_PER_CHANNEL = 10_000  # spec §5 quota
MAX_MODERATORS_PER_CHANNEL = 1_000


def _names(tx: Tx, *arns_: str) -> dict[str, str]:
    return tx.user_names(arns_)


def _member_of_instance(tx: Tx, app_instance_arn: str, user_arn: str) -> None:
    user = tx.user(user_arn)
    if user is None or user.app_instance_arn != app_instance_arn:
        raise NotFound(f"{user_arn} is not a user of the app instance {app_instance_arn}.")


def _add_membership(
    tx: Tx, call: Call, channel: Channel, member_arn: str, type_: str, invited_by: str
) -> Membership:
    """Insert one membership after the rules every path shares (bans, existence, duplicates)."""
    _member_of_instance(tx, channel.app_instance_arn, member_arn)
    if tx.ban(channel.arn, member_arn) is not None:
        raise Forbidden(
            f"{member_arn} is banned from the channel {channel.arn}; delete the ban first."
        )
    if tx.membership(channel.arn, member_arn) is not None:
        raise Conflict(f"{member_arn} is already a member of the channel {channel.arn}.")
    membership = Membership(channel.arn, member_arn, type_, invited_by, call.now, call.now)
    tx.insert_membership(membership)
    return membership


def _join_elastic(
    tx: Tx, call: Call, c: Channel, member_arn: str, type_: str, by: str, p: Mapping[str, Any]
) -> tuple[Membership, list[BusEvent]]:
    """The rules every channel shares (instance, ban), then the elastic channel's own."""
    _member_of_instance(tx, c.app_instance_arn, member_arn)
    if tx.ban(c.arn, member_arn) is not None:
        raise Forbidden(f"{member_arn} is banned from the channel {c.arn}; delete the ban first.")
    return sub_channels.join(tx, call, c, member_arn, type_, by, p.get("SubChannelId"))


def _require_may_add(who: Actor, type_: str) -> None:
    if type_ == "HIDDEN" and not who.can_moderate:
        raise who.deny("create a HIDDEN membership: only moderators and admins may")
    if not who.can_moderate and not (who.is_member and who.channel.mode == "UNRESTRICTED"):
        raise who.deny("add members (the channel is RESTRICTED)")


# --- channels ------------------------------------------------------------------------------------


@operation("CreateChannel", writes=True)
def create_channel(
    tx: Tx, call: Call, p: MessagingCreateChannelRequest
) -> Result[MessagingCreateChannelResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    creator = bearer_user(tx, p.get("ChimeBearer"))
    if creator.app_instance_arn != app.arn:
        raise Forbidden(f"The bearer {creator.arn} does not belong to the app instance {app.arn}.")
    elastic = None
    if p.get("ElasticChannelConfiguration"):
        elastic = sub_channels.check_creation(tx, call, app.arn, p)
    scope = f"CreateChannel|{app.arn}|{creator.arn}"
    alive = lambda out: tx.channel(out["ChannelArn"]) is not None  # noqa: E731
    if (previous := replay(tx, scope, p, alive, output=MessagingCreateChannelResponse)) is not None:
        return Result(previous)
    if elastic is not None:
        sub_channels.check_quota(tx, call, app.arn)
    channel_id = p.get("ChannelId") or ids.hex_id(32)
    arn = arns.child(app.arn, "channel", channel_id)
    if tx.channel(arn) is not None:
        raise Conflict(f"The channel {arn} already exists.")
    expiration: Mapping[str, Any] = p.get("ExpirationSettings") or {}
    channel = Channel(
        arn=arn,
        app_instance_arn=app.arn,
        name=p["Name"],
        mode=p.get("Mode") or ("RESTRICTED" if elastic else "UNRESTRICTED"),
        privacy=p.get("Privacy") or "PRIVATE",
        metadata=p.get("Metadata"),
        created_by=creator.arn,
        created=call.now,
        updated=call.now,
        last_message=None,
        seq=0,
        expiration_days=expiration.get("ExpirationDays"),
        expiration_criterion=expiration.get("ExpirationCriterion"),
        elastic=elastic,
    )
    tx.insert_channel(channel)
    # The creator becomes member and moderator; then the listed members and moderators. An
    # elastic channel's creator is its moderator only, and it starts with one sub-channel.
    members = list(dict.fromkeys([creator.arn, *(p.get("MemberArns") or [])]))
    created: list[BusEvent] = []
    if elastic is not None:
        members = []
        created = sub_channels.first_sub_channel(tx, call, channel)
    for member in members:
        _add_membership(tx, call, channel, member, "DEFAULT", creator.arn)
    for moderator in dict.fromkeys([creator.arn, *(p.get("ModeratorArns") or [])]):
        _member_of_instance(tx, app.arn, moderator)
        tx.insert_moderator(Moderator(arn, moderator, creator.arn, call.now))
    if p.get("Tags"):
        tx.put_tags(arn, {t["Key"]: t["Value"] for t in p["Tags"]})
    names = _names(tx, creator.arn)
    event = channel_created(
        arn, tx.next_seq(arn), shapes.channel(channel, names, shapes.event_ts), tuple(members)
    )
    output: MessagingCreateChannelResponse = {"ChannelArn": arn}
    remember(tx, call, scope, p, output)
    return Result(output, [event, *created])


@operation("DescribeChannel", writes=False)
def describe_channel(
    tx: Tx, call: Call, p: MessagingDescribeChannelRequest
) -> Result[MessagingDescribeChannelResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_read()
    channel = shapes.channel(who.channel, _names(tx, who.channel.created_by))
    if (flow_arn := tx.flow_of_channel(who.channel.arn)) is not None:
        channel["ChannelFlowArn"] = flow_arn
    return Result({"Channel": channel})


@operation("UpdateChannel", writes=True)
def update_channel(
    tx: Tx, call: Call, p: MessagingUpdateChannelRequest
) -> Result[MessagingUpdateChannelResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("update the channel")
    c = who.channel
    name = p.get("Name") or c.name
    mode = p.get("Mode") or c.mode
    if c.elastic is not None and mode != "RESTRICTED":
        raise BadRequest("Elastic channels must stay RESTRICTED.")
    metadata = p.get("Metadata", c.metadata)
    tx.update_channel(c.arn, name, mode, metadata, call.now)
    updated = tx.channel(c.arn)
    assert updated is not None
    payload = shapes.channel(updated, _names(tx, c.created_by), shapes.event_ts)
    seq = tx.next_seq(c.arn)
    return Result(
        {"ChannelArn": c.arn},
        [channel_updated(route, seq, payload) for route in sub_channels.routes(tx, c)],
    )


@operation("DeleteChannel", writes=True)
def delete_channel(tx: Tx, call: Call, p: MessagingDeleteChannelRequest) -> Result[NoOutput]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("delete the channel")
    return Result({}, remove_channel(tx, who.channel), purges=True)


def remove_channel(tx: Tx, c: Channel) -> list[BusEvent]:
    """Delete a channel with everything in it (DeleteChannel, expiration): its DELETE_CHANNEL,
    on each of its routes (the sub-channels of an elastic channel)."""
    payload = shapes.channel(c, _names(tx, c.created_by), shapes.event_ts)
    seq = tx.next_seq(c.arn)
    events: list[BusEvent] = [
        channel_deleted(route, seq, payload) for route in sub_channels.routes(tx, c)
    ]
    tx.delete_channel(c.arn)
    return events


@operation("ListChannels", writes=False)
def list_channels(
    tx: Tx, call: Call, p: MessagingListChannelsRequest
) -> Result[MessagingListChannelsResponse]:
    """Non-admins list PUBLIC channels; only an AppInstanceAdmin may list PRIVATE ones."""
    app = require_app_instance(tx, p["AppInstanceArn"])
    user = bearer_user(tx, p.get("ChimeBearer"))
    if user.app_instance_arn != app.arn:
        raise Forbidden(f"The bearer {user.arn} does not belong to the app instance {app.arn}.")
    privacy = p.get("Privacy")
    if not is_admin(tx, user):
        if privacy == "PRIVATE":
            raise Forbidden("Only an AppInstanceAdmin may list PRIVATE channels.")
        privacy = "PUBLIC"
    limit = page_size(p)
    rows, token = paginate(
        tx.list_channels(app.arn, privacy, decode_token(p, str), limit + 1), limit, lambda c: c.arn
    )
    return Result({"Channels": [shapes.channel_summary(c) for c in rows], "NextToken": token})


@operation("SearchChannels", writes=False)
def search_channels(
    tx: Tx, call: Call, p: MessagingSearchChannelsRequest
) -> Result[MessagingSearchChannelsResponse]:
    """MEMBERS search. A user bearer sees only channels it belongs to; admins and calls
    without a bearer (the app backend) see all."""
    bearer = p.get("ChimeBearer")
    user = bearer_user(tx, bearer) if bearer else None
    fields = p["Fields"]
    instance = user.app_instance_arn if user else None
    wanted: list[str] = []
    match_all = True
    for f in fields:
        if f["Key"] != "MEMBERS":
            raise BadRequest(f"Unsupported search key {f['Key']!r}; only MEMBERS is supported.")
        wanted += f["Values"]
        match_all = match_all and f["Operator"] == "EQUALS"
    if instance is None:
        first = arns.parse(wanted[0]) if wanted else None
        if first is None:
            raise BadRequest("Search values must be app instance user ARNs.")
        instance = first.app_instance_arn
    channels = tx.channels_with_members(instance, wanted, match_all or len(fields) > 1)
    if match_all:
        # EQUALS: the channel's members are exactly the given set.
        channels = [c for c in channels if set(tx.member_arns(c.arn)) == set(wanted)]
    if user is not None and not is_admin(tx, user):
        channels = [c for c in channels if tx.membership(c.arn, user.arn) is not None]
    start = decode_token(p, str) or ""
    channels = [c for c in channels if c.arn > start]
    limit = page_size(p)
    rows, token = paginate(channels[: limit + 1], limit, lambda c: c.arn)
    return Result({"Channels": [shapes.channel_summary(c) for c in rows], "NextToken": token})


@operation("PutChannelExpirationSettings", writes=True)
def put_channel_expiration(
    tx: Tx, call: Call, p: MessagingPutChannelExpirationSettingsRequest
) -> Result[MessagingPutChannelExpirationSettingsResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("change the expiration settings")
    settings = p.get("ExpirationSettings")
    tx.set_channel_expiration(
        who.channel.arn,
        settings["ExpirationDays"] if settings else None,
        settings["ExpirationCriterion"] if settings else None,
    )
    updated = tx.channel(who.channel.arn)
    assert updated is not None
    payload = shapes.channel(updated, _names(tx, updated.created_by), shapes.event_ts)
    return Result(
        {"ChannelArn": who.channel.arn, "ExpirationSettings": settings},
        exports=[channel_expiration_updated(updated.arn, payload)],
    )


# --- memberships ---------------------------------------------------------------------------------


@operation("CreateChannelMembership", writes=True)
def create_membership(
    tx: Tx, call: Call, p: MessagingCreateChannelMembershipRequest
) -> Result[MessagingCreateChannelMembershipResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    type_ = p["Type"]
    c = who.channel
    if c.elastic is not None:
        _require_may_add(who, "DEFAULT")
        membership, events = _join_elastic(tx, call, c, p["MemberArn"], type_, who.arn, p)
        names = _names(tx, membership.member_arn)
        output: MessagingCreateChannelMembershipResponse = {
            "ChannelArn": c.arn,
            "Member": shapes.identity(membership.member_arn, names),
            "SubChannelId": membership.sub_channel_id,
        }
        return Result(output, events)
    if p.get("SubChannelId"):
        raise BadRequest(sub_channels.NOT_ELASTIC.format(arn=c.arn))
    _require_may_add(who, type_)
    if len(tx.member_arns(c.arn)) >= MAX_MEMBERSHIPS_PER_CHANNEL:
        raise ResourceLimitExceeded(f"The channel {c.arn} has the maximum number of members.")
    membership = _add_membership(tx, call, c, p["MemberArn"], type_, who.arn)
    names = _names(tx, membership.member_arn, who.arn)
    event = membership_created(
        c.arn,
        tx.next_seq(c.arn),
        shapes.channel_membership(membership, names, shapes.event_ts),
        membership.member_arn,
    )
    return Result(
        {"ChannelArn": c.arn, "Member": shapes.identity(membership.member_arn, names)}, [event]
    )


@operation("BatchCreateChannelMembership", writes=True)
def batch_create_memberships(
    tx: Tx, call: Call, p: MessagingBatchCreateChannelMembershipRequest
) -> Result[MessagingBatchCreateChannelMembershipResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    type_ = p.get("Type") or "DEFAULT"
    c = who.channel
    if c.elastic is not None:
        return _batch_elastic(tx, call, who, p, type_)
    if p.get("SubChannelId"):
        raise BadRequest(sub_channels.NOT_ELASTIC.format(arn=c.arn))
    _require_may_add(who, type_)
    room = MAX_MEMBERSHIPS_PER_CHANNEL - len(tx.member_arns(c.arn))
    if len(set(p["MemberArns"])) > room:
        raise ResourceLimitExceeded(
            f"The channel {c.arn} can take {max(room, 0)} more members, not {len(set(p['MemberArns']))}."
        )
    added: list[str] = []
    errors: list[MessagingBatchCreateChannelMembershipError] = []
    for member_arn in dict.fromkeys(p["MemberArns"]):
        try:
            _add_membership(tx, call, c, member_arn, type_, who.arn)
        except (NotFound, Forbidden, Conflict) as exc:
            errors.append(
                {"MemberArn": member_arn, "ErrorCode": exc.code, "ErrorMessage": exc.message}
            )
        else:
            added.append(member_arn)
    names = _names(tx, who.arn, *added)
    batch: MessagingBatchChannelMemberships = {
        "InvitedBy": shapes.identity(who.arn, names),
        "Type": type_,
        "Members": [shapes.identity(a, names) for a in added],
        "ChannelArn": c.arn,
    }
    events: list[BusEvent] = []
    if added:
        events.append(memberships_batch_created(c.arn, tx.next_seq(c.arn), batch, tuple(added)))
    return Result({"BatchChannelMemberships": batch, "Errors": errors}, events)


def _batch_elastic(
    tx: Tx, call: Call, who: Actor, p: MessagingBatchCreateChannelMembershipRequest, type_: str
) -> Result[MessagingBatchCreateChannelMembershipResponse]:
    """On an elastic channel each member is added (and balanced) alone and announced with its
    own CREATE_CHANNEL_MEMBERSHIP: there is no BATCH_CREATE_CHANNEL_MEMBERSHIP (spec §7)."""
    _require_may_add(who, "DEFAULT")
    c = who.channel
    added: list[str] = []
    errors: list[MessagingBatchCreateChannelMembershipError] = []
    events: list[BusEvent] = []
    for member_arn in dict.fromkeys(p["MemberArns"]):
        try:
            _, more = _join_elastic(tx, call, c, member_arn, type_, who.arn, p)
        except (NotFound, Forbidden, Conflict, BadRequest, ResourceLimitExceeded) as exc:
            errors.append(
                {"MemberArn": member_arn, "ErrorCode": exc.code, "ErrorMessage": exc.message}
            )
        else:
            added.append(member_arn)
            events += more
    names = _names(tx, who.arn, *added)
    batch: MessagingBatchChannelMemberships = {
        "InvitedBy": shapes.identity(who.arn, names),
        "Type": type_,
        "Members": [shapes.identity(a, names) for a in added],
        "ChannelArn": c.arn,
        "SubChannelId": p.get("SubChannelId"),
    }
    return Result({"BatchChannelMemberships": batch, "Errors": errors}, events)


@operation("DescribeChannelMembership", writes=False)
def describe_membership(
    tx: Tx, call: Call, p: MessagingDescribeChannelMembershipRequest
) -> Result[MessagingDescribeChannelMembershipResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who = sub_channels.scope(tx, who, p, required=False)
    who.require_read()
    sub = p.get("SubChannelId")
    if sub:
        m = tx.sub_channel_membership(who.channel.arn, sub, p["MemberArn"])
    else:
        m = tx.membership(who.channel.arn, p["MemberArn"])
    if m is None:
        raise NotFound(f"{p['MemberArn']} is not a member of the channel {who.channel.arn}.")
    names = _names(tx, m.member_arn, m.invited_by)
    return Result({"ChannelMembership": shapes.channel_membership(m, names)})


@operation("ListChannelMemberships", writes=False)
def list_memberships(
    tx: Tx, call: Call, p: MessagingListChannelMembershipsRequest
) -> Result[MessagingListChannelMembershipsResponse]:
    """Without a Type filter only DEFAULT members are listed; HIDDEN ones only when asked."""
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    if who.channel.elastic is not None and not p.get("SubChannelId"):
        # The whole channel's roster is for those who see every sub-channel.
        who.require_moderator("list the memberships of every sub-channel")
    who = sub_channels.scope(tx, who, p, required=False)
    who.require_read()
    limit = page_size(p)
    type_, after = p.get("Type") or "DEFAULT", decode_token(p, str)
    if who.channel.elastic is not None:
        found = tx.list_sub_channel_memberships(
            who.channel.arn, p.get("SubChannelId"), type_, after, limit + 1
        )
        # A moderator in several sub-channels is listed once.
        found = list({m.member_arn: m for m in found}.values())
    else:
        found = tx.list_memberships(who.channel.arn, type_, after, limit + 1)
    rows, token = paginate(found, limit, lambda m: m.member_arn)
    names = _names(tx, *(m.member_arn for m in rows))
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "ChannelMemberships": [shapes.channel_membership_summary(m, names) for m in rows],
            "NextToken": token,
        }
    )


@operation("DeleteChannelMembership", writes=True)
def delete_membership(
    tx: Tx, call: Call, p: MessagingDeleteChannelMembershipRequest
) -> Result[NoOutput]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    member_arn = p["MemberArn"]
    if member_arn != who.arn:
        who.require_moderator("remove another member")
    c = who.channel
    if c.elastic is not None:
        events = sub_channels.leave(tx, call, c, member_arn, p.get("SubChannelId"))
        return Result({}, events, purges=sub_channels.emptied(events))
    if p.get("SubChannelId"):
        raise BadRequest(sub_channels.NOT_ELASTIC.format(arn=c.arn))
    m = tx.membership(c.arn, member_arn)
    if m is None:
        raise NotFound(f"{member_arn} is not a member of the channel {c.arn}.")
    return Result({}, [_remove_member(tx, c, m)])


def _remove_member(tx: Tx, c: Channel, m: Membership) -> BusEvent:
    names = _names(tx, m.member_arn, m.invited_by)
    payload = shapes.channel_membership(m, names, shapes.event_ts)
    tx.delete_membership(c.arn, m.member_arn)
    return membership_deleted(c.arn, tx.next_seq(c.arn), payload, m.member_arn)


@operation("ListChannelMembershipsForAppInstanceUser", writes=False)
def list_memberships_for_user(
    tx: Tx, call: Call, p: MessagingListChannelMembershipsForAppInstanceUserRequest
) -> Result[MessagingListChannelMembershipsForAppInstanceUserResponse]:
    user = _subject(tx, p)
    limit = page_size(p)
    found = tx.memberships_of_user(user, decode_token(p, str), limit + 1)
    # A moderator of an elastic channel may hold several memberships of it: listed once.
    found = list({m.channel_arn: (m, c) for m, c in reversed(found)}.values())[::-1]
    rows, token = paginate(found, limit, lambda pair: pair[0].channel_arn)
    return Result(
        {
            "ChannelMemberships": [
                {
                    "ChannelSummary": shapes.channel_summary(c),
                    "AppInstanceUserMembershipSummary": _user_summary(m),
                }
                for m, c in rows
            ],
            "NextToken": token,
        }
    )


def _user_summary(m: Membership) -> MessagingAppInstanceUserMembershipSummary:
    # A None member is left out by the codec.
    return {"Type": m.type, "ReadMarkerTimestamp": m.read_marker, "SubChannelId": m.sub_channel_id}


def _subject(tx: Tx, p: Mapping[str, Any]) -> str:
    """The user a *ForAppInstanceUser call is about: the bearer, or anyone for an admin."""
    bearer = bearer_user(tx, p.get("ChimeBearer"))
    subject = p.get("AppInstanceUserArn") or bearer.arn
    if subject != bearer.arn:
        if not is_admin(tx, bearer):
            raise Forbidden("Only an AppInstanceAdmin may pass another user's AppInstanceUserArn.")
        # An admin speaks for the users of its own app instance only.
        other = tx.user(subject)
        if other is None or other.app_instance_arn != bearer.app_instance_arn:
            raise Forbidden(
                "An invalid app instance user ARN was supplied for the input parameter."
            )
    return str(subject)


@operation("DescribeChannelMembershipForAppInstanceUser", writes=False)
def describe_membership_for_user(
    tx: Tx, call: Call, p: MessagingDescribeChannelMembershipForAppInstanceUserRequest
) -> Result[MessagingDescribeChannelMembershipForAppInstanceUserResponse]:
    user = _subject(tx, p)
    c = require_channel(tx, p["ChannelArn"])
    m = tx.membership(c.arn, user)
    if m is None:
        raise NotFound(f"{user} is not a member of the channel {c.arn}.")
    return Result(
        {
            "ChannelMembership": {
                "ChannelSummary": shapes.channel_summary(c),
                "AppInstanceUserMembershipSummary": _user_summary(m),
            }
        }
    )


@operation("GetChannelMembershipPreferences", writes=False)
def get_preferences(
    tx: Tx, call: Call, p: MessagingGetChannelMembershipPreferencesRequest
) -> Result[MessagingGetChannelMembershipPreferencesResponse]:
    who, m = _own_membership(tx, p)
    names = _names(tx, m.member_arn)
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "Member": shapes.identity(m.member_arn, names),
            # Stored as PutChannelMembershipPreferences took it, validated against the model.
            "Preferences": cast(MessagingChannelMembershipPreferences, m.preferences or {}),
        }
    )


@operation("PutChannelMembershipPreferences", writes=True)
def put_preferences(
    tx: Tx, call: Call, p: MessagingPutChannelMembershipPreferencesRequest
) -> Result[MessagingPutChannelMembershipPreferencesResponse]:
    who, m = _own_membership(tx, p)
    try:
        push_filter.check_preferences(p["Preferences"])
    except push_filter.FilterRuleError as exc:
        raise BadRequest(f"Preferences.PushNotifications: {exc}.") from None
    tx.set_preferences(who.channel.arn, m.member_arn, p["Preferences"], call.now)
    names = _names(tx, m.member_arn)
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "Member": shapes.identity(m.member_arn, names),
            "Preferences": p["Preferences"],
        }
    )


def _own_membership(tx: Tx, p: Mapping[str, Any]) -> tuple[Actor, Membership]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    sub_channels.refuse(who.channel, "Membership preferences")
    if p["MemberArn"] != who.arn and not who.is_admin:
        raise who.deny("read or change another member's preferences")
    m = tx.membership(who.channel.arn, p["MemberArn"])
    if m is None:
        raise NotFound(f"{p['MemberArn']} is not a member of the channel {who.channel.arn}.")
    return who, m


# --- moderators ----------------------------------------------------------------------------------


@operation("CreateChannelModerator", writes=True)
def create_moderator(
    tx: Tx, call: Call, p: MessagingCreateChannelModeratorRequest
) -> Result[MessagingCreateChannelModeratorResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("add moderators")
    c = who.channel
    target = p["ChannelModeratorArn"]
    _member_of_instance(tx, c.app_instance_arn, target)
    if tx.moderator(c.arn, target) is not None:
        raise Conflict(f"{target} is already a moderator of the channel {c.arn}.")
    if (
        len(tx.list_moderators(c.arn, None, MAX_MODERATORS_PER_CHANNEL))
        >= MAX_MODERATORS_PER_CHANNEL
    ):
        raise ResourceLimitExceeded(f"The channel {c.arn} has the maximum number of moderators.")
    # On an elastic channel a promotion ends the user's memberships (spec §7).
    events = sub_channels.leave(tx, call, c, target, None, everywhere=True) if c.elastic else []
    moderator = Moderator(c.arn, target, who.arn, call.now)
    tx.insert_moderator(moderator)
    names = _names(tx, target, who.arn)
    return Result(
        {"ChannelArn": c.arn, "ChannelModerator": shapes.identity(target, names)},
        events,
        exports=[
            moderator_created(c.arn, shapes.channel_moderator(moderator, names, shapes.event_ts))
        ],
        purges=sub_channels.emptied(events),
    )


@operation("DescribeChannelModerator", writes=False)
def describe_moderator(
    tx: Tx, call: Call, p: MessagingDescribeChannelModeratorRequest
) -> Result[MessagingDescribeChannelModeratorResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("describe moderators")
    m = tx.moderator(who.channel.arn, p["ChannelModeratorArn"])
    if m is None:
        raise NotFound(f"{p['ChannelModeratorArn']} is not a moderator of {who.channel.arn}.")
    return Result(
        {"ChannelModerator": shapes.channel_moderator(m, _names(tx, m.moderator_arn, m.created_by))}
    )


@operation("ListChannelModerators", writes=False)
def list_moderators(
    tx: Tx, call: Call, p: MessagingListChannelModeratorsRequest
) -> Result[MessagingListChannelModeratorsResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("list moderators")
    limit = page_size(p)
    rows, token = paginate(
        tx.list_moderators(who.channel.arn, decode_token(p, str), limit + 1),
        limit,
        lambda m: m.moderator_arn,
    )
    names = _names(tx, *(m.moderator_arn for m in rows))
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "ChannelModerators": [
                {"Moderator": shapes.identity(m.moderator_arn, names)} for m in rows
            ],
            "NextToken": token,
        }
    )


@operation("DeleteChannelModerator", writes=True)
def delete_moderator(
    tx: Tx, call: Call, p: MessagingDeleteChannelModeratorRequest
) -> Result[NoOutput]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("remove moderators")
    moderator = tx.moderator(who.channel.arn, p["ChannelModeratorArn"])
    if moderator is None:
        raise NotFound(f"{p['ChannelModeratorArn']} is not a moderator of {who.channel.arn}.")
    c = who.channel
    target = p["ChannelModeratorArn"]
    # On an elastic channel a demotion ends the user's memberships (spec §7).
    events = sub_channels.leave(tx, call, c, target, None, everywhere=True) if c.elastic else []
    tx.delete_moderator(c.arn, target)
    names = _names(tx, moderator.moderator_arn, moderator.created_by)
    payload = shapes.channel_moderator(moderator, names, shapes.event_ts)
    return Result(
        {},
        events,
        exports=[moderator_deleted(moderator.channel_arn, payload)],
        purges=sub_channels.emptied(events),
    )


@operation("ListChannelsModeratedByAppInstanceUser", writes=False)
def list_moderated(
    tx: Tx, call: Call, p: MessagingListChannelsModeratedByAppInstanceUserRequest
) -> Result[MessagingListChannelsModeratedByAppInstanceUserResponse]:
    user = _subject(tx, p)
    limit = page_size(p)
    rows, token = paginate(
        tx.channels_moderated_by(user, decode_token(p, str), limit + 1), limit, lambda c: c.arn
    )
    return Result(
        {
            "Channels": [{"ChannelSummary": shapes.channel_summary(c)} for c in rows],
            "NextToken": token,
        }
    )


@operation("DescribeChannelModeratedByAppInstanceUser", writes=False)
def describe_moderated(
    tx: Tx, call: Call, p: MessagingDescribeChannelModeratedByAppInstanceUserRequest
) -> Result[MessagingDescribeChannelModeratedByAppInstanceUserResponse]:
    user = _subject(tx, p)
    c = require_channel(tx, p["ChannelArn"])
    sub_channels.refuse(c, "DescribeChannelModeratedByAppInstanceUser calls")
    if tx.moderator(c.arn, user) is None:
        raise NotFound(f"{user} is not a moderator of the channel {c.arn}.")
    return Result({"Channel": {"ChannelSummary": shapes.channel_summary(c)}})


# --- bans ----------------------------------------------------------------------------------------


@operation("CreateChannelBan", writes=True)
def create_ban(
    tx: Tx, call: Call, p: MessagingCreateChannelBanRequest
) -> Result[MessagingCreateChannelBanResponse]:
    """Banning kicks the member out (DELETE_CHANNEL_MEMBERSHIP) and keeps them out."""
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("ban members")
    c = who.channel
    target = p["MemberArn"]
    _member_of_instance(tx, c.app_instance_arn, target)
    if tx.moderator(c.arn, target) is not None or tx.admin(c.app_instance_arn, target) is not None:
        raise who.deny("ban a moderator or an app instance admin")
    if tx.ban(c.arn, target) is not None:
        raise Conflict(f"{target} is already banned from the channel {c.arn}.")
    ban = Ban(c.arn, target, who.arn, call.now)
    tx.insert_ban(ban)
    events: list[BusEvent] = []
    m = tx.membership(c.arn, target)
    if c.elastic is not None:
        events = sub_channels.leave(tx, call, c, target, None, everywhere=True)
    elif m is not None:
        events.append(_remove_member(tx, c, m))
    names = _names(tx, target, who.arn)
    return Result(
        {"ChannelArn": c.arn, "Member": shapes.identity(target, names)},
        events,
        exports=[ban_created(c.arn, shapes.channel_ban(ban, names, shapes.event_ts))],
        purges=sub_channels.emptied(events),
    )


@operation("DescribeChannelBan", writes=False)
def describe_ban(
    tx: Tx, call: Call, p: MessagingDescribeChannelBanRequest
) -> Result[MessagingDescribeChannelBanResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("describe bans")
    b = tx.ban(who.channel.arn, p["MemberArn"])
    if b is None:
        raise NotFound(f"{p['MemberArn']} is not banned from the channel {who.channel.arn}.")
    return Result({"ChannelBan": shapes.channel_ban(b, _names(tx, b.member_arn, b.created_by))})


@operation("ListChannelBans", writes=False)
def list_bans(
    tx: Tx, call: Call, p: MessagingListChannelBansRequest
) -> Result[MessagingListChannelBansResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("list bans")
    limit = page_size(p)
    rows, token = paginate(
        tx.list_bans(who.channel.arn, decode_token(p, str), limit + 1),
        limit,
        lambda b: b.member_arn,
    )
    names = _names(tx, *(b.member_arn for b in rows))
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "ChannelBans": [{"Member": shapes.identity(b.member_arn, names)} for b in rows],
            "NextToken": token,
        }
    )


@operation("DeleteChannelBan", writes=True)
def delete_ban(tx: Tx, call: Call, p: MessagingDeleteChannelBanRequest) -> Result[NoOutput]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("lift bans")
    ban = tx.ban(who.channel.arn, p["MemberArn"])
    if ban is None:
        raise NotFound(f"{p['MemberArn']} is not banned from the channel {who.channel.arn}.")
    tx.delete_ban(who.channel.arn, p["MemberArn"])
    names = _names(tx, ban.member_arn, ban.created_by)
    payload = shapes.channel_ban(ban, names, shapes.event_ts)
    return Result({}, exports=[ban_deleted(ban.channel_arn, payload)])
