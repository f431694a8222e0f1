"""chime-sdk-messaging: channel messages and read markers (spec §4.4, §5, §6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from bellwire import ids
from bellwire.aws.errors import BadRequest, NotFound
from bellwire.aws.shapes import (
    MessagingDeleteChannelMessageRequest,
    MessagingGetChannelMessageRequest,
    MessagingGetChannelMessageResponse,
    MessagingGetChannelMessageStatusRequest,
    MessagingGetChannelMessageStatusResponse,
    MessagingGetMessagingSessionEndpointRequest,
    MessagingGetMessagingSessionEndpointResponse,
    MessagingListChannelMessagesRequest,
    MessagingListChannelMessagesResponse,
    MessagingRedactChannelMessageRequest,
    MessagingRedactChannelMessageResponse,
    MessagingSendChannelMessageRequest,
    MessagingSendChannelMessageResponse,
    MessagingUpdateChannelMessageRequest,
    MessagingUpdateChannelMessageResponse,
    MessagingUpdateChannelReadMarkerRequest,
    MessagingUpdateChannelReadMarkerResponse,
    NoOutput,
)
from bellwire.domain import bots, flows, push, shapes, sub_channels
from bellwire.domain.delivery import message_event
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
from bellwire.domain.roles import Actor, actor
from bellwire.events import EventType
from bellwire.records.chime import Message, route_key
from bellwire.store.base import Tx

# Spec §5: content "up to 4KB" for STANDARD, 30 bytes for CONTROL; attributes 1 KB in total.
# Sizes are counted in UTF-8 bytes, the stricter reading of "KB".
MAX_CONTENT_BYTES = {"STANDARD": 4096, "CONTROL": 30}
MAX_ATTRIBUTES_BYTES = 1024


def _check_content(type_: str, content: str) -> None:
    limit = MAX_CONTENT_BYTES[type_]
    size = len(content.encode())
    if size > limit:
        raise BadRequest(f"Content is {size} bytes; {type_} messages are limited to {limit} bytes.")


def _check_attributes(attributes: Mapping[str, Any] | None) -> None:
    if not attributes:
        return
    size = sum(
        len(name.encode()) + sum(len(v.encode()) for v in value.get("StringValues") or [])
        for name, value in attributes.items()
    )
    if size > MAX_ATTRIBUTES_BYTES:
        raise BadRequest(
            f"MessageAttributes total {size} bytes; the limit is {MAX_ATTRIBUTES_BYTES} bytes."
        )


def check_message(type_: str, content: str, attributes: Mapping[str, Any] | None) -> None:
    """What a message may hold; also checked on what a channel flow's processor returns."""
    _check_content(type_, content)
    _check_attributes(attributes)


def _scoped(tx: Tx, p: Mapping[str, Any], remembered: tuple[str, str] | None = None) -> Actor:
    """The bearer in the request's channel, or in its sub-channel of an elastic channel (where
    messages live: one is never seen from another sub-channel). ``remembered``: a (scope,
    token) to look up with the bearer (see ``replay``)."""
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"], remembered=remembered)
    return sub_channels.scope(tx, who, p)


def _visible_message(tx: Tx, who: Actor, message_id: str, p: Mapping[str, Any]) -> Message:
    m = tx.message(who.channel.arn, message_id)
    if m is None or not m.visible_to(who.arn) or m.sub_channel_id != p.get("SubChannelId"):
        raise NotFound(f"The message {message_id} does not exist in the channel {who.channel.arn}.")
    return m


def _event(kind: EventType, tx: Tx, m: Message) -> Any:
    return message_event(
        kind,
        route_key(m.channel_arn, m.sub_channel_id),
        tx.next_seq(m.channel_arn),
        shapes.channel_message(m, shapes.event_ts),
        message_type=m.type,
        sender=m.sender_arn,
        target=m.target_arn,
    )


# ahead: its first statement is the bearer's (``roles.actor``), and nothing of it is changed by
# another send in the same transaction (a send does not look at the channel's number or last
# message; a remembered answer under its own token is never another send's).
@operation("SendChannelMessage", writes=True, ahead=True)
def send_message(
    tx: Tx, call: Call, p: MessagingSendChannelMessageRequest
) -> Result[MessagingSendChannelMessageResponse]:
    token = p.get("ClientRequestToken")
    # The retry check's lookup travels with the bearer's (same scope once the bearer is found).
    ahead = (f"SendChannelMessage|{p['ChannelArn']}|{p.get('ChimeBearer')}", token)
    who = _scoped(tx, p, ahead if token else None)
    # Admins and moderators need a membership to send, like everyone; hidden members observe.
    who.require_member("send messages")
    if who.membership is not None and who.membership.type == "HIDDEN":
        raise who.deny("send messages: hidden members can observe but not send")
    scope = f"SendChannelMessage|{who.channel.arn}|{who.arn}"
    previous = replay(
        tx,
        scope,
        p,
        output=MessagingSendChannelMessageResponse,
        read=(who.remembered_key, who.remembered),
    )
    if previous is not None:
        return Result(previous)
    type_ = p["Type"]
    _check_content(type_, p["Content"])
    if type_ == "CONTROL" and p.get("Metadata"):
        raise BadRequest("CONTROL messages cannot carry Metadata.")
    _check_attributes(p.get("MessageAttributes"))
    target = None
    if p.get("Target"):
        if len(p["Target"]) != 1:
            raise BadRequest("Target must name exactly one member.")
        target = p["Target"][0].get("MemberArn")
        if target is None:  # the model leaves it optional: the codec lets [{}] through
            raise BadRequest("Target must name exactly one member.")
        sub = p.get("SubChannelId")
        where = (
            tx.sub_channel_membership(who.channel.arn, sub, target)
            if sub
            else tx.membership(who.channel.arn, target)
        )
        if where is None:
            raise BadRequest(f"The target {target} is not a member of the channel.")
    persistent = p["Persistence"] == "PERSISTENT"
    flow_arn = flows.flow_of_send(who, type_)
    # A message a flow holds is the channel's last message only once the flow sends it.
    last_message = call.now if persistent and flow_arn is None else None
    message_id = ids.ordered_hex_id(32, call.now)

    def sent(seq: int) -> Message:
        # Built again once the sequence number is known (cheaper than dataclasses.replace).
        return Message(
            channel_arn=who.channel.arn,
            message_id=message_id,
            seq=seq,
            sender_arn=who.arn,
            sender_name=who.user.name,
            content=p["Content"],
            metadata=p.get("Metadata"),
            type=type_,
            persistence=p["Persistence"],
            redacted=False,
            created=call.now,
            last_updated=call.now,
            attributes=p.get("MessageAttributes"),
            content_type=p.get("ContentType"),
            target_arn=target,
            push=p.get("PushNotification"),
            status="SENT" if flow_arn is None else "PENDING",
            sub_channel_id=p.get("SubChannelId"),
        )

    message = sent(0)  # the channel's next number is taken as the message is stored
    output: MessagingSendChannelMessageResponse = {
        "ChannelArn": who.channel.arn,
        "MessageId": message.message_id,
        "Status": {"Value": "SENT"},
        "SubChannelId": message.sub_channel_id,
    }
    if flow_arn is None:
        # Remembered before the message is stored (the answer names no sequence number): on
        # PostgreSQL its INSERT then travels with the message's statement, not after it.
        remember(tx, call, scope, p, output)
    # NON_PERSISTENT messages are delivered to whoever is connected and never kept.
    if persistent:
        seq = tx.insert_message_at_next_seq(message, last_message=last_message)
    else:
        seq = tx.next_seq(who.channel.arn, last_message=last_message)
    message = sent(seq)
    if flow_arn is not None:
        held = flows.submit(
            tx, call, message, "CREATE", flow_arn, event_seq=seq, processors=who.flow_processors
        )
        remember(tx, call, scope, p, held.output)
        return held
    event = message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        route_key(who.channel.arn, message.sub_channel_id),
        seq,
        shapes.channel_message(message, shapes.event_ts),
        message_type=type_,
        sender=who.arn,
        target=target,
    )
    return Result(
        output,
        [event],
        # No bot is a member: nothing to ask (bearer_in_channel looked, in this transaction).
        bot_calls=bots.calls_for(tx, who.channel.app_instance_arn, message) if who.has_bots else [],
        pushes=push.pushes_for(tx, message),
        streaming={} if who.streaming is None else {who.channel.app_instance_arn: who.streaming},
    )


@operation("GetChannelMessage", writes=False)
def get_message(
    tx: Tx, call: Call, p: MessagingGetChannelMessageRequest
) -> Result[MessagingGetChannelMessageResponse]:
    who = _scoped(tx, p)
    who.require_read()
    return Result(
        {"ChannelMessage": shapes.channel_message(_visible_message(tx, who, p["MessageId"], p))}
    )


@operation("GetChannelMessageStatus", writes=False)
def get_message_status(
    tx: Tx, call: Call, p: MessagingGetChannelMessageStatusRequest
) -> Result[MessagingGetChannelMessageStatusResponse]:
    who = _scoped(tx, p)
    held = flows.pending_message(tx, who.channel.arn, p["MessageId"])
    if held is not None and held.sub_channel_id != p.get("SubChannelId"):
        held = None  # named from another sub-channel: answered as any message is
    m = held if held is not None else _visible_message(tx, who, p["MessageId"], p)
    if m.sender_arn != who.arn:
        raise who.deny("read the status of another member's message")
    return Result({"Status": {"Value": "PENDING" if held is not None else m.status}})


def _position(p: Mapping[str, Any], descending: bool) -> int | None:
    """Where a message listing resumes; a token from a listing in the other order is refused
    rather than silently answered with the wrong page."""
    position = decode_token(p, list)
    if position is None:
        return None
    if (
        len(position) != 2
        or not isinstance(position[0], int)
        or position[1] != ("DESCENDING" if descending else "ASCENDING")
    ):
        raise BadRequest(
            "The NextToken is not valid for this listing: pass it back with the same SortOrder."
        )
    return position[0]


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@operation("ListChannelMessages", writes=False)
def list_messages(
    tx: Tx, call: Call, p: MessagingListChannelMessagesRequest
) -> Result[MessagingListChannelMessagesResponse]:
    """Newest first unless SortOrder is ASCENDING; redacted messages appear empty, deleted and
    non-persistent ones not at all, targeted ones only to their target and sender."""
    who = _scoped(tx, p)
    who.require_read()
    descending = p.get("SortOrder", "DESCENDING") == "DESCENDING"
    limit = page_size(p)
    rows, token = paginate(
        tx.list_messages(
            who.channel.arn,
            viewer=who.arn,
            descending=descending,
            not_before=_epoch(p.get("NotBefore")),
            not_after=_epoch(p.get("NotAfter")),
            after_seq=_position(p, descending),
            limit=limit + 1,
            sub_channel_id=p.get("SubChannelId"),
        ),
        limit,
        lambda m: [m.seq, "DESCENDING" if descending else "ASCENDING"],
    )
    return Result(
        {
            "ChannelArn": who.channel.arn,
            "ChannelMessages": [shapes.channel_message_summary(m) for m in rows],
            "NextToken": token,
            "SubChannelId": p.get("SubChannelId"),
        }
    )


@operation("UpdateChannelMessage", writes=True)
def update_message(
    tx: Tx, call: Call, p: MessagingUpdateChannelMessageRequest
) -> Result[MessagingUpdateChannelMessageResponse]:
    who = _scoped(tx, p)
    m = _visible_message(tx, who, p["MessageId"], p)
    if m.sender_arn != who.arn:
        raise who.deny("edit another member's message: only the sender may")
    who.require_member("edit messages")
    if m.redacted:
        raise BadRequest(f"The message {m.message_id} is redacted and cannot be edited.")
    if m.status != "SENT":
        raise BadRequest(f"The message {m.message_id} is {m.status} and cannot be edited.")
    _check_content(m.type, p["Content"])
    if m.type == "CONTROL" and p.get("Metadata"):
        raise BadRequest("CONTROL messages cannot carry Metadata.")
    flow_arn = flows.flow_for(tx, m.channel_arn, m.type)
    if flow_arn is not None:
        edit = replace(
            m,
            content=p["Content"],
            metadata=p.get("Metadata", m.metadata),
            content_type=p.get("ContentType", m.content_type),
            last_updated=call.now,
            last_edited=call.now,
        )
        return flows.submit(tx, call, edit, "UPDATE", flow_arn, event_seq=None)
    tx.update_message(
        m.channel_arn,
        m.message_id,
        content=p["Content"],
        metadata=p.get("Metadata", m.metadata),
        content_type=p.get("ContentType", m.content_type),
        redacted=False,
        now=call.now,
        edited=True,
    )
    updated = tx.message(m.channel_arn, m.message_id)
    assert updated is not None
    return Result(
        {
            "ChannelArn": m.channel_arn,
            "MessageId": m.message_id,
            "Status": {"Value": "SENT"},
            "SubChannelId": m.sub_channel_id,
        },
        [_event(EventType.UPDATE_CHANNEL_MESSAGE, tx, updated)],
    )


@operation("RedactChannelMessage", writes=True)
def redact_message(
    tx: Tx, call: Call, p: MessagingRedactChannelMessageRequest
) -> Result[MessagingRedactChannelMessageResponse]:
    """Members redact their own messages; moderators and admins any message."""
    who = _scoped(tx, p)
    m = _visible_message(tx, who, p["MessageId"], p)
    if m.sender_arn != who.arn:
        who.require_moderator("redact another member's message")
    elif not who.can_moderate:
        who.require_member("redact messages")
    tx.update_message(
        m.channel_arn,
        m.message_id,
        content=None,
        metadata=None,
        content_type=None,
        redacted=True,
        now=call.now,
        edited=False,
    )
    redacted = tx.message(m.channel_arn, m.message_id)
    assert redacted is not None
    return Result(
        {
            "ChannelArn": m.channel_arn,
            "MessageId": m.message_id,
            "SubChannelId": m.sub_channel_id,
        },
        [_event(EventType.REDACT_CHANNEL_MESSAGE, tx, redacted)],
    )


@operation("DeleteChannelMessage", writes=True)
def delete_message(tx: Tx, call: Call, p: MessagingDeleteChannelMessageRequest) -> Result[NoOutput]:
    """Only AppInstanceAdmins delete; the event carries the message as it was."""
    who = _scoped(tx, p)
    who.require_admin("delete messages")
    m = _visible_message(tx, who, p["MessageId"], p)
    tx.delete_message(m.channel_arn, m.message_id)
    return Result({}, [_event(EventType.DELETE_CHANNEL_MESSAGE, tx, m)])


@operation("UpdateChannelReadMarker", writes=True)
def update_read_marker(
    tx: Tx, call: Call, p: MessagingUpdateChannelReadMarkerRequest
) -> Result[MessagingUpdateChannelReadMarkerResponse]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    if who.channel.elastic is not None:
        raise who.deny("update a read marker: elastic channels have no read markers")
    who.require_member("update a read marker")
    tx.set_read_marker(who.channel.arn, who.arn, call.now)
    return Result({"ChannelArn": who.channel.arn})


@operation("GetMessagingSessionEndpoint", writes=False)
def get_messaging_session_endpoint(
    tx: Tx, call: Call, p: MessagingGetMessagingSessionEndpointRequest
) -> Result[MessagingGetMessagingSessionEndpointResponse]:
    """Where clients open their messaging sessions: this server, as configured or as bound."""
    return Result({"Endpoint": {"Url": call.session_endpoint()}})
