"""Elastic channels inside a transaction (spec §7): creation rules, joins and leaves with their
balancing, the sub-channel scope of messages and memberships, ListSubChannels.

The balancing decisions are ``domain/elastic.py``'s (pure); this module reads the loads, applies
the plans to the store and produces the events. Everything here touches one sub-channel, or the
channel's few sub-channel rows, never every membership of the channel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from bellwire import ids
from bellwire.aws.errors import BadRequest, Conflict, NotFound, ResourceLimitExceeded
from bellwire.aws.shapes import MessagingListSubChannelsRequest, MessagingListSubChannelsResponse
from bellwire.domain import elastic, shapes
from bellwire.domain.delivery import (
    BusEvent,
    ChannelEvent,
    SubChannelChange,
    SubChannelEvent,
    membership_created,
    membership_deleted,
    membership_moved,
    sub_channel_closed,
    sub_channel_membership_dropped,
)
from bellwire.domain.operation import Call, Result, decode_token, operation, page_size, paginate
from bellwire.domain.roles import Actor, actor
from bellwire.records.chime import (
    Channel,
    ElasticConfiguration,
    Membership,
    SubChannel,
    route_key,
)
from bellwire.store.base import Tx

SUB_CHANNEL = "/subchannel/"  # in a sub-channel's route key (records/chime.py route_key)
NOT_ELASTIC = "SubChannelId applies only to elastic channels; {arn} is not one."


def config_of(c: Channel) -> ElasticConfiguration:
    assert c.elastic is not None
    return c.elastic


def routes(tx: Tx, c: Channel) -> list[str]:
    """Where a channel-wide event (UPDATE_CHANNEL, DELETE_CHANNEL) is published: the channel,
    or each sub-channel of an elastic channel."""
    if c.elastic is None:
        return [c.arn]
    return [route_key(c.arn, s.sub_channel_id) for s in tx.sub_channels(c.arn)]


def number(tx: Tx, events: list[BusEvent]) -> None:
    """Give each event of a sub-channel its sub-channel's own number (in place, in the order of
    ``events``), in the commit's transaction: one UPDATE per sub-channel the commit touched.
    The channel's number (``seq``) stays as it is: the streaming export reads it. An event of
    a sub-channel the same commit deleted (SCALE_IN, DeleteChannel) gets none and is applied
    as it arrives: nobody follows that sub-channel afterwards."""
    counts: dict[str, int] = {}
    for event in events:
        if isinstance(event, ChannelEvent) and SUB_CHANNEL in event.channel_arn:
            counts[event.channel_arn] = counts.get(event.channel_arn, 0) + 1
            if event.moved_from is not None:  # its number is read (a count of 0), not taken
                counts.setdefault(event.moved_from, 0)
    if not counts:
        return
    # The last number given on each route so far: before the commit's first, then each.
    reached: dict[str, int | None] = {}
    for key, count in counts.items():
        channel, _, sub = key.partition(SUB_CHANNEL)
        last = tx.next_sub_seqs(channel, sub, count)
        reached[key] = None if last is None else last - count
    for i, event in enumerate(events):
        if isinstance(event, ChannelEvent):
            seq = reached.get(event.channel_arn)
            if seq is not None:
                left = None if event.moved_from is None else reached.get(event.moved_from)
                events[i] = dataclasses.replace(event, sub_seq=seq + 1, moved_from_seq=left)
                reached[event.channel_arn] = seq + 1


# --- creation ------------------------------------------------------------------------------------


def check_creation(
    tx: Tx, call: Call, app_instance_arn: str, p: Mapping[str, Any]
) -> ElasticConfiguration:
    """An elastic CreateChannel's rules: RESTRICTED, no MemberArns (the quota comes later)."""
    config = elastic.parse_configuration(p["ElasticChannelConfiguration"], call.elastic)
    if p.get("Mode", "RESTRICTED") != "RESTRICTED":
        raise BadRequest("Elastic channels must be RESTRICTED.")
    if p.get("MemberArns"):
        raise BadRequest(
            "MemberArns cannot be given when creating an elastic channel; add members with "
            "CreateChannelMembership (ModeratorArns are allowed)."
        )
    return config


def check_quota(tx: Tx, call: Call, app_instance_arn: str) -> None:
    """After the idempotent replay: a retried creation is answered, not counted again."""
    quota = call.elastic.channels_per_app_instance
    if tx.count_elastic_channels(app_instance_arn) >= quota:
        raise ResourceLimitExceeded(
            f"The app instance {app_instance_arn} has its maximum of {quota} elastic channels."
        )


def first_sub_channel(tx: Tx, call: Call, c: Channel) -> list[BusEvent]:
    """An elastic channel starts with one (empty) sub-channel, so that moderators can join
    one before any member does."""
    sub = SubChannel(c.arn, new_sub_channel_id(), 0, 0, 0, call.now)
    tx.insert_sub_channel(sub)
    return [SubChannelEvent(SubChannelChange.CREATE_SUB_CHANNEL, c.arn, sub.sub_channel_id)]


def new_sub_channel_id() -> str:
    return ids.hex_id(16)


# --- the sub-channel a request is about ----------------------------------------------------------


def require_sub_channel(tx: Tx, c: Channel, sub_channel_id: str) -> SubChannel:
    sub = tx.sub_channel(c.arn, sub_channel_id)
    if sub is None:
        raise NotFound(f"The sub-channel {sub_channel_id} does not exist in the channel {c.arn}.")
    return sub


def scope(tx: Tx, who: Actor, p: Mapping[str, Any], *, required: bool = True) -> Actor:
    """The bearer as seen from the request's sub-channel: its membership there (or none).
    A SubChannelId on a regular channel, or none where an elastic channel needs one, is
    refused; on regular channels the actor is returned as it is."""
    sub_channel_id = p.get("SubChannelId")
    c = who.channel
    if c.elastic is None:
        if sub_channel_id:
            raise BadRequest(NOT_ELASTIC.format(arn=c.arn))
        return who
    if not sub_channel_id:
        if required:
            raise BadRequest(f"SubChannelId is required on the elastic channel {c.arn}.")
        return who
    require_sub_channel(tx, c, sub_channel_id)
    membership = tx.sub_channel_membership(c.arn, sub_channel_id, who.arn)
    return dataclasses.replace(who, membership=membership)


def refuse(c: Channel, what: str) -> None:
    """Features elastic channels do not have (spec §7)."""
    if c.elastic is not None:
        raise BadRequest(f"{what} are not supported on elastic channels ({c.arn}).")


# --- joining -------------------------------------------------------------------------------------


def join(
    tx: Tx, call: Call, c: Channel, member_arn: str, type_: str, invited_by: str, sub: str | None
) -> tuple[Membership, list[BusEvent]]:
    """Add one membership to an elastic channel (after the rules every channel shares:
    instance, ban, role of the adder). Moderators name their sub-channel; regular members are
    placed by balancing."""
    if type_ != "DEFAULT":
        raise BadRequest("HIDDEN memberships are not supported on elastic channels.")
    if tx.moderator(c.arn, member_arn) is not None:
        if not sub:
            raise BadRequest(
                f"SubChannelId is required to add the moderator {member_arn} to a sub-channel."
            )
        require_sub_channel(tx, c, sub)
        if tx.sub_channel_membership(c.arn, sub, member_arn) is not None:
            raise Conflict(f"{member_arn} is already a member of the sub-channel {sub}.")
        m = Membership(
            c.arn,
            member_arn,
            type_,
            invited_by,
            call.now,
            call.now,
            sub_channel_id=sub,
            moderator=True,
        )
        tx.insert_membership(m)
        tx.count_sub_channel(c.arn, sub, moderators=1)
        return m, [_created(tx, m)]
    if sub:
        raise BadRequest(
            "SubChannelId cannot be given for a regular member of an elastic channel: "
            "the service chooses the sub-channel."
        )
    if tx.memberships_in_channel(c.arn, member_arn):
        raise Conflict(f"{member_arn} is already a member of the channel {c.arn}.")
    # The joiner's event number, taken first: its UPDATE of the channel row also holds the
    # channel against concurrent balancing until the commit on engines that run writers side
    # by side (PostgreSQL); SQLite has one writer anyway.
    seq = tx.next_seq(c.arn)
    config = config_of(c)
    loads = [elastic.Load(s.sub_channel_id, s.members, s.ordinal) for s in tx.sub_channels(c.arn)]
    placement = elastic.place(loads, config, new_sub_channel_id())
    if placement is None:
        raise ResourceLimitExceeded(
            f"The elastic channel {c.arn} is full: {config.maximum_sub_channels} sub-channels "
            f"of {config.target_memberships} members."
        )
    events: list[BusEvent] = []
    if placement.created is not None:
        ordinal = max((ld.ordinal for ld in loads), default=-1) + 1
        tx.insert_sub_channel(SubChannel(c.arn, placement.created, ordinal, 0, 0, call.now))
        events.append(
            SubChannelEvent(SubChannelChange.CREATE_SUB_CHANNEL, c.arn, placement.created)
        )
    for t in placement.transfers:
        events += _transfer(tx, call, c, t.source, t.target, t.count)
    m = Membership(
        c.arn,
        member_arn,
        type_,
        invited_by,
        call.now,
        call.now,
        sub_channel_id=placement.sub_channel_id,
    )
    tx.insert_membership(m)
    tx.count_sub_channel(c.arn, placement.sub_channel_id, members=1)
    events.append(_created(tx, m, seq))
    return m, events


def _created(tx: Tx, m: Membership, seq: int | None = None) -> BusEvent:
    names = tx.user_names([m.member_arn, m.invited_by])
    return membership_created(
        route_key(m.channel_arn, m.sub_channel_id),
        tx.next_seq(m.channel_arn) if seq is None else seq,
        shapes.channel_membership(m, names, shapes.event_ts),
        m.member_arn,
    )


def _transfer(
    tx: Tx, call: Call, c: Channel, source: str, target: str, count: int
) -> list[BusEvent]:
    """Move ``count`` regular members (the newest first) and tell each of them."""
    moving = tx.movable_members(c.arn, source, count)
    names = tx.user_names({a for m in moving for a in (m.member_arn, m.invited_by)})
    events: list[BusEvent] = []
    for m in moving:
        tx.move_membership(c.arn, m.member_arn, source, target, call.now)
        moved = dataclasses.replace(m, sub_channel_id=target, updated=call.now)
        events.append(
            membership_moved(
                route_key(c.arn, target),
                tx.next_seq(c.arn),
                shapes.channel_membership(moved, names, shapes.event_ts),
                m.member_arn,
                route_key(c.arn, source),
            )
        )
    tx.count_sub_channel(c.arn, source, members=-len(moving))
    tx.count_sub_channel(c.arn, target, members=len(moving))
    return events


# --- leaving -------------------------------------------------------------------------------------


def leave(
    tx: Tx, call: Call, c: Channel, member_arn: str, sub: str | None, *, everywhere: bool = False
) -> list[BusEvent]:
    """DeleteChannelMembership on an elastic channel: a moderator leaves one sub-channel (with
    ``sub``) or all; a regular member leaves its one sub-channel (no ``sub`` allowed), and
    balancing runs. ``everywhere`` (bans, moderator changes) removes every membership."""
    rows = tx.memberships_in_channel(c.arn, member_arn)
    if not everywhere:
        if not rows:
            raise NotFound(f"{member_arn} is not a member of the channel {c.arn}.")
        if sub and not any(m.moderator for m in rows):
            raise BadRequest(
                "SubChannelId cannot be given for a regular member of an elastic channel."
            )
        if sub:
            rows = [m for m in rows if m.sub_channel_id == sub]
            if not rows:
                raise NotFound(f"{member_arn} is not a member of the sub-channel {sub}.")
    names = tx.user_names({a for m in rows for a in (m.member_arn, m.invited_by)})
    events: list[BusEvent] = []
    regular_left = False
    seq = tx.next_seq(c.arn)  # first, as in join: it holds the channel for balancing
    for m in rows:
        sub_id = m.sub_channel_id or ""
        events.append(
            membership_deleted(
                route_key(c.arn, sub_id),
                seq if m is rows[0] else tx.next_seq(c.arn),
                shapes.channel_membership(m, names, shapes.event_ts),
                m.member_arn,
            )
        )
        tx.delete_sub_channel_membership(c.arn, sub_id, m.member_arn)
        if m.moderator:
            tx.count_sub_channel(c.arn, sub_id, moderators=-1)
        else:
            tx.count_sub_channel(c.arn, sub_id, members=-1)
            regular_left = True
    if regular_left:
        events += scale_in(tx, call, c)
    return events


def emptied(events: Sequence[BusEvent]) -> bool:
    """Whether a SCALE_IN among ``events`` deleted a sub-channel, whose messages the purger
    then removes (``Result.purges``)."""
    return any(
        isinstance(e, SubChannelEvent) and e.kind is SubChannelChange.DELETE_SUB_CHANNEL
        for e in events
    )


def scale_in(tx: Tx, call: Call, c: Channel) -> list[BusEvent]:
    """SCALE_IN: merge the sub-channels balancing says to, deleting the emptied ones (their
    messages go with them, through the purger); their moderators hear
    DELETE_CHANNEL_MEMBERSHIP (subchannel_DELETED)."""
    loads = [elastic.Load(s.sub_channel_id, s.members, s.ordinal) for s in tx.sub_channels(c.arn)]
    events: list[BusEvent] = []
    for merge in elastic.merges(loads, config_of(c)):
        events += _transfer(tx, call, c, merge.source, merge.target, merge.count)
        route = route_key(c.arn, merge.source)
        moderators = tx.moderator_memberships_in(c.arn, merge.source)
        names = tx.user_names({a for m in moderators for a in (m.member_arn, m.invited_by)})
        for m in moderators:
            events.append(
                sub_channel_membership_dropped(
                    route,
                    tx.next_seq(c.arn),
                    shapes.channel_membership(m, names, shapes.event_ts),
                    m.member_arn,
                )
            )
        events.append(sub_channel_closed(route, tx.next_seq(c.arn), c.arn, merge.source))
        events.append(
            SubChannelEvent(
                SubChannelChange.DELETE_SUB_CHANNEL, c.arn, merge.source, len(moderators)
            )
        )
        tx.delete_sub_channel(c.arn, merge.source)
    return events


# --- ListSubChannels -----------------------------------------------------------------------------


@operation("ListSubChannels", writes=False)
def list_sub_channels(
    tx: Tx, call: Call, p: MessagingListSubChannelsRequest
) -> Result[MessagingListSubChannelsResponse]:
    """Admins and moderators list an elastic channel's sub-channels and their membership
    counts (regular and moderator memberships), oldest first."""
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("list sub-channels")
    c = who.channel
    if c.elastic is None:
        raise BadRequest(f"The channel {c.arn} is not an elastic channel.")
    after = decode_token(p, int)
    subs = [s for s in tx.sub_channels(c.arn) if after is None or s.ordinal > after]
    limit = page_size(p)
    rows, token = paginate(subs[: limit + 1], limit, lambda s: s.ordinal)
    return Result(
        {
            "ChannelArn": c.arn,
            "SubChannels": [
                {"SubChannelId": s.sub_channel_id, "MembershipCount": s.membership_count}
                for s in rows
            ],
            "NextToken": token,
        }
    )
