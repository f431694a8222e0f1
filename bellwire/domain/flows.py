"""chime-sdk-messaging: channel flows, the processors that see messages first (spec §8).

A flow names one to three processors, Lambda functions in AWS; here the ``[resources]`` map
gives the URL that stands for each, and ``bellwire.invoker`` POSTs the Lambda's input event there
once the write that made the message PENDING is committed. The processors see the message one
after another in ExecutionOrder: each answers with ChannelFlowCallback, and a callback that does
not deny hands the message, as that processor changed it, to the next (``_hand_on``). If a
processor cannot be reached, or does not call back within the window, its FallbackAction decides
(``fall_back``). Every ending passes through ``settle``, which is where each party's event is
decided (PENDING_/DENIED_/FAILED_* to the sender alone, the ordinary CREATE/UPDATE_CHANNEL_MESSAGE
to the members).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, cast

from bellwire import ids
from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, Conflict, Forbidden, NotFound, ResourceLimitExceeded
from bellwire.aws.shapes import (
    MessagingAssociateChannelFlowRequest,
    MessagingChannelAssociatedWithFlowSummary,
    MessagingChannelFlow,
    MessagingChannelFlowCallbackRequest,
    MessagingChannelFlowCallbackResponse,
    MessagingCreateChannelFlowRequest,
    MessagingCreateChannelFlowResponse,
    MessagingDeleteChannelFlowRequest,
    MessagingDescribeChannelFlowRequest,
    MessagingDescribeChannelFlowResponse,
    MessagingDisassociateChannelFlowRequest,
    MessagingListChannelFlowsRequest,
    MessagingListChannelFlowsResponse,
    MessagingListChannelsAssociatedWithChannelFlowRequest,
    MessagingListChannelsAssociatedWithChannelFlowResponse,
    MessagingProcessor,
    MessagingSendChannelMessageResponse,
    MessagingUpdateChannelFlowRequest,
    MessagingUpdateChannelFlowResponse,
    NoOutput,
)
from bellwire.domain import bots, push, shapes
from bellwire.domain.delivery import BusEvent, message_event, sender_only_event
from bellwire.domain.identity import require_app_instance
from bellwire.domain.operation import (
    AnyResult,
    Call,
    Result,
    decode_token,
    fingerprint,
    operation,
    page_size,
    paginate,
    remember,
    replay,
)
from bellwire.domain.roles import Actor, actor
from bellwire.events import EventType, iso_timestamp
from bellwire.records.chime import Message, route_key
from bellwire.records.flows import CallbackReads, ChannelFlow, FailureEvent, FlowInvocation
from bellwire.resources import ResourceError
from bellwire.store.base import Tx

MAX_FLOWS_PER_APP_INSTANCE = 100  # spec §10 quota
EVENT_TYPE = "CHANNEL_MESSAGE_EVENT"

_PENDING = {
    "CREATE": EventType.PENDING_CREATE_CHANNEL_MESSAGE,
    "UPDATE": EventType.PENDING_UPDATE_CHANNEL_MESSAGE,
}
_DENIED = {
    "CREATE": EventType.DENIED_CREATE_CHANNEL_MESSAGE,
    "UPDATE": EventType.DENIED_UPDATE_CHANNEL_MESSAGE,
}
_FAILED = {
    "CREATE": EventType.FAILED_CREATE_CHANNEL_MESSAGE,
    "UPDATE": EventType.FAILED_UPDATE_CHANNEL_MESSAGE,
}


# --- flows -------------------------------------------------------------------------------------


def _require_flow(tx: Tx, arn: str) -> ChannelFlow:
    found = tx.flow(arn)
    if found is None:
        raise NotFound(f"The channel flow {arn} does not exist.")
    return found


def _check_processors(call: Call, processors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The model checked the shapes; these are the service's rules on top of them."""
    most = call.flow_max_processors  # a setting; AWS's default quota is 1, the model's 3
    if len(processors) > most:
        raise ResourceLimitExceeded(
            f"A channel flow can have at most {most} processor{'s' if most > 1 else ''}; "
            f"{len(processors)} were given."
        )
    orders = sorted(p["ExecutionOrder"] for p in processors)
    if orders != list(range(1, len(processors) + 1)):
        raise BadRequest("Processor ExecutionOrder values must be 1, 2, ... without gaps.")
    if len({p["Name"] for p in processors}) != len(processors):
        raise BadRequest("Processor names must be unique within a channel flow.")
    for processor in processors:
        lam = processor["Configuration"]["Lambda"]
        resource = lam["ResourceArn"]
        parts = resource.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            raise BadRequest(f"{resource} is not the ARN of a Lambda function.")
        if parts[3] != call.region or parts[4] != call.account_id:
            raise BadRequest(
                f"The Lambda function {resource} must be in the account {call.account_id} and "
                f"the region {call.region} of the app instance."
            )
        if lam["InvocationType"] != "ASYNC":
            raise BadRequest("Processors are invoked asynchronously: InvocationType is ASYNC.")
        try:
            call.resources.require(resource, what="Lambda function", schemes=["http", "https"])
        except ResourceError as exc:
            raise BadRequest(str(exc)) from None
    return [dict(p) for p in sorted(processors, key=lambda p: p["ExecutionOrder"])]


def _processors(f: ChannelFlow) -> list[MessagingProcessor]:
    # Stored as given, after the model validated them.
    return [cast(MessagingProcessor, p) for p in f.processors]


def _flow_shape(f: ChannelFlow) -> MessagingChannelFlow:
    return {
        "ChannelFlowArn": f.arn,
        "Processors": _processors(f),
        "Name": f.name,
        "CreatedTimestamp": f.created,
        "LastUpdatedTimestamp": f.updated,
    }


@operation("CreateChannelFlow", writes=True)
def create_flow(
    tx: Tx, call: Call, p: MessagingCreateChannelFlowRequest
) -> Result[MessagingCreateChannelFlowResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    scope = f"CreateChannelFlow|{app.arn}"
    alive = lambda out: tx.flow(out["ChannelFlowArn"]) is not None  # noqa: E731
    previous = replay(tx, scope, p, alive, output=MessagingCreateChannelFlowResponse)
    if previous is not None:
        return Result(previous)
    processors = _check_processors(call, p["Processors"])
    if tx.count_flows(app.arn) >= MAX_FLOWS_PER_APP_INSTANCE:
        raise ResourceLimitExceeded(
            f"The app instance {app.arn} has {MAX_FLOWS_PER_APP_INSTANCE} channel flows already."
        )
    arn = arns.child(app.arn, "channel-flow", ids.hex_id(32))
    tx.insert_flow(ChannelFlow(arn, app.arn, p["Name"], processors, call.now, call.now))
    if p.get("Tags"):
        tx.put_tags(arn, {t["Key"]: t["Value"] for t in p["Tags"]})
    output: MessagingCreateChannelFlowResponse = {"ChannelFlowArn": arn}
    remember(tx, call, scope, p, output)
    return Result(output)


@operation("DescribeChannelFlow", writes=False)
def describe_flow(
    tx: Tx, call: Call, p: MessagingDescribeChannelFlowRequest
) -> Result[MessagingDescribeChannelFlowResponse]:
    return Result({"ChannelFlow": _flow_shape(_require_flow(tx, p["ChannelFlowArn"]))})


@operation("UpdateChannelFlow", writes=True)
def update_flow(
    tx: Tx, call: Call, p: MessagingUpdateChannelFlowRequest
) -> Result[MessagingUpdateChannelFlowResponse]:
    """Messages already handed to the flow finish through the processors it had then."""
    flow = _require_flow(tx, p["ChannelFlowArn"])
    tx.update_flow(flow.arn, p["Name"], _check_processors(call, p["Processors"]), call.now)
    return Result({"ChannelFlowArn": flow.arn})


@operation("DeleteChannelFlow", writes=True)
def delete_flow(tx: Tx, call: Call, p: MessagingDeleteChannelFlowRequest) -> Result[NoOutput]:
    flow = _require_flow(tx, p["ChannelFlowArn"])
    if tx.channels_of_flow(flow.arn, None, 1):
        raise Conflict(
            f"The channel flow {flow.arn} is associated with channels: disassociate them first."
        )
    tx.delete_flow(flow.arn)
    return Result({})


@operation("ListChannelFlows", writes=False)
def list_flows(
    tx: Tx, call: Call, p: MessagingListChannelFlowsRequest
) -> Result[MessagingListChannelFlowsResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.list_flows(app.arn, decode_token(p, str), limit + 1), limit, lambda f: f.arn
    )
    return Result(
        {
            "ChannelFlows": [
                {"ChannelFlowArn": f.arn, "Name": f.name, "Processors": _processors(f)}
                for f in rows
            ],
            "NextToken": token,
        }
    )


@operation("AssociateChannelFlow", writes=True)
def associate_flow(tx: Tx, call: Call, p: MessagingAssociateChannelFlowRequest) -> Result[NoOutput]:
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("associate a channel flow")
    flow = _require_flow(tx, p["ChannelFlowArn"])
    if flow.app_instance_arn != who.channel.app_instance_arn:
        raise BadRequest(
            f"The channel flow {flow.arn} belongs to another app instance than the channel."
        )
    current = tx.flow_of_channel(who.channel.arn)
    if current is not None:
        raise Conflict(
            f"The channel {who.channel.arn} is already associated with the channel flow "
            f"{current}: a channel has at most one flow."
        )
    tx.associate_flow(who.channel.arn, flow.arn, call.now)
    return Result({})


@operation("DisassociateChannelFlow", writes=True)
def disassociate_flow(
    tx: Tx, call: Call, p: MessagingDisassociateChannelFlowRequest
) -> Result[NoOutput]:
    """Messages already handed to the flow still finish through it."""
    who = actor(tx, p.get("ChimeBearer"), p["ChannelArn"])
    who.require_moderator("disassociate a channel flow")
    if tx.flow_of_channel(who.channel.arn) != p["ChannelFlowArn"]:
        raise NotFound(
            f"The channel {who.channel.arn} is not associated with the channel flow "
            f"{p['ChannelFlowArn']}."
        )
    tx.disassociate_flow(who.channel.arn)
    return Result({})


@operation("ListChannelsAssociatedWithChannelFlow", writes=False)
def list_flow_channels(
    tx: Tx, call: Call, p: MessagingListChannelsAssociatedWithChannelFlowRequest
) -> Result[MessagingListChannelsAssociatedWithChannelFlowResponse]:
    flow = _require_flow(tx, p["ChannelFlowArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.channels_of_flow(flow.arn, decode_token(p, str), limit + 1), limit, lambda c: c.arn
    )
    channels: list[MessagingChannelAssociatedWithFlowSummary] = []
    for c in rows:
        summary: MessagingChannelAssociatedWithFlowSummary = {
            "Name": c.name,
            "ChannelArn": c.arn,
            "Mode": c.mode,
            "Privacy": c.privacy,
        }
        if c.metadata is not None:
            summary["Metadata"] = c.metadata
        channels.append(summary)
    return Result({"Channels": channels, "NextToken": token})


# --- messages through a flow -------------------------------------------------------------------


def flow_of_send(who: Actor, message_type: str) -> str | None:
    """``flow_for`` of the actor's channel, from what the role lookup read with it."""
    return who.flow_arn if message_type == "STANDARD" else None


def flow_for(tx: Tx, channel_arn: str, message_type: str) -> str | None:
    """The flow a message of this type must pass in this channel: only STANDARD messages are
    processed, CONTROL (and SYSTEM) never."""
    if message_type != "STANDARD":
        return None
    return tx.flow_of_channel(channel_arn)


_MESSAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Message))


def _columns(m: Message) -> dict[str, Any]:
    # Shallow: asdict's deep copy cost 16 us a message on the writer thread; the columns are
    # only serialized, never changed in place.
    return {name: getattr(m, name) for name in _MESSAGE_FIELDS}


def _message(columns: Mapping[str, Any]) -> Message:
    return Message(**columns)


def submit(
    tx: Tx,
    call: Call,
    message: Message,
    kind: str,
    flow_arn: str,
    *,
    event_seq: int | None,
    processors: Sequence[Mapping[str, Any]] | None = None,
) -> Result[MessagingSendChannelMessageResponse]:
    """Hand ``message`` (a new one, or one as it would read after an edit) to the flow: the
    invocation is kept with the write, the sender alone hears PENDING_*, and the processor is
    called once the write is committed. ``event_seq``: the seq the create already took;
    ``processors``: the flow's, when the role lookup read them with it (else read here)."""
    if processors is None:
        processors = tx.flow_processors(flow_arn)
    if processors is None:  # cannot happen: an associated flow cannot be deleted
        raise BadRequest(f"The channel flow {flow_arn} of the channel does not exist.")
    # A send builds its message PENDING already; an edit's is as stored.
    pending = (
        message if message.status == "PENDING" else dataclasses.replace(message, status="PENDING")
    )
    invocation = FlowInvocation(
        # Time-ordered (26 random bytes after the time): the invocation's key is appended to
        # its index instead of dirtying a random page of it in every commit.
        callback_id=ids.ordered_hex_id(32, call.now),
        channel_arn=message.channel_arn,
        message_id=message.message_id,
        kind=kind,
        flow_arn=flow_arn,
        processor=processors[0],
        message=_columns(pending),
        state="PENDING",
        created=call.now,
        invoker=call.node or None,
        step=1,
        # The flow as it is now: an UpdateChannelFlow does not change a message on its way.
        chain=list(processors) if len(processors) > 1 else (),
    )
    tx.insert_invocation(invocation)
    seq = event_seq if event_seq is not None else tx.next_seq(message.channel_arn)
    event = sender_only_event(
        _PENDING[kind],
        route_key(message.channel_arn, message.sub_channel_id),
        seq,
        shapes.channel_message(pending, shapes.event_ts),
        message.sender_arn,
    )
    output: MessagingSendChannelMessageResponse = {
        "ChannelArn": message.channel_arn,
        "MessageId": message.message_id,
        "Status": {"Value": "PENDING"},
    }
    if message.sub_channel_id:
        output["SubChannelId"] = message.sub_channel_id
    return Result(output, [event], invocations=[invocation])


def pending_message(tx: Tx, channel_arn: str, message_id: str) -> Message | None:
    """The message as a processor has it now (a create, persistent or not, or an edit), if one
    has it: GetChannelMessageStatus answers PENDING for it."""
    found = tx.pending_invocation_of(channel_arn, message_id)
    return None if found is None else _message(found.message)


def lambda_event(invocation: FlowInvocation) -> dict[str, Any]:
    """What the processor receives: the Lambda input event of the processor-setup guide, its
    timestamps as strings (ISO-8601 UTC with milliseconds, as in messaging-session payloads)."""
    m = _message(invocation.message)
    message = {
        "MessageId": m.message_id,
        "ChannelArn": m.channel_arn,
        "Content": m.content,
        "Metadata": m.metadata,
        "Sender": {"Arn": m.sender_arn, "Name": m.sender_name},
        "Persistence": m.persistence,
        "LastEditedTimestamp": iso_timestamp(m.last_edited) if m.last_edited else None,
        "Type": m.type,
        "CreatedTimestamp": iso_timestamp(m.created),
        # An elastic channel's message names its sub-channel; the callback may name it back.
        "SubChannelId": m.sub_channel_id,
    }
    return {
        "EventType": EVENT_TYPE,
        "CallbackId": invocation.callback_id,
        "ChannelMessage": {k: v for k, v in message.items() if v is not None},
    }


FAILURE_SOURCE = "aws.chime"
FAILURE_DETAIL_TYPE = "Chime ChannelFlow Processing Status"


def default_event_bus(region: str, account_id: str) -> str:
    """The ARN of the account's default EventBridge bus: what the ``[resources]`` map maps to
    the URL that receives processor failure events."""
    return f"arn:aws:events:{region}:{account_id}:event-bus/default"


def failure_event(
    invocation: FlowInvocation,
    reason: str,
    *,
    region: str,
    account_id: str,
    event_id: str,
    now: float,
) -> dict[str, Any]:
    """The EventBridge event AWS emits when a processor could not be invoked, whatever its
    FallbackAction (the event-bridge-events guide): the EventBridge envelope, ``time`` in whole
    seconds as EventBridge writes it."""
    channel = arns.parse(invocation.channel_arn)
    return {
        "version": "0",
        "id": event_id,
        "detail-type": FAILURE_DETAIL_TYPE,
        "source": FAILURE_SOURCE,
        "account": account_id,
        "time": (iso_timestamp(now) or "")[:19] + "Z",
        "region": region,
        "resources": [],
        "detail": {
            "eventType": "ProcessorInvocationFailure",
            "appInstanceArn": channel.app_instance_arn if channel is not None else "",
            "channelArn": invocation.channel_arn,
            "messageId": invocation.message_id,
            "processorResourceArn": invocation.processor["Configuration"]["Lambda"]["ResourceArn"],
            "failureReason": reason,
        },
    }


# --- failure events on their way to the event bus ---------------------------------------------

# Deliveries of one failure event, each a webhook call with its own retries and backoff, before
# it is given up (dropped and counted lost).
FAILURE_EVENT_DELIVERIES = 5


class Delivery(StrEnum):
    DONE = "done"  # accepted (2xx): forget it
    RETRY = "retry"  # no answer, 429 or 5xx, or no room in flight: deliver it again later
    LOST = "lost"  # refused (another status), or out of deliveries: drop it, count it lost


def delivery_verdict(*, ok: bool, refused: bool, attempts: int) -> Delivery:
    """What becomes of a failure event after delivery number ``attempts``; ``refused``: the
    receiver answered with a status no retry changes (webhook.retryable)."""
    if ok:
        return Delivery.DONE
    if refused:
        return Delivery.LOST
    return Delivery.RETRY if attempts < FAILURE_EVENT_DELIVERIES else Delivery.LOST


def pending_failure_event(event: Mapping[str, Any], now: float, hold: float) -> FailureEvent:
    """The row of a failure event about to be delivered (its first delivery begun, held for
    ``hold`` seconds, one delivery's longest time)."""
    body = json.dumps(event, separators=(",", ":"))
    return FailureEvent(str(event["id"]), body, now, 1, now + hold)


def due_failure_events(tx: Tx, now: float) -> bool:
    """Whether any failure event is due for a delivery."""
    return bool(tx.due_failure_events(now, 1))


def claim_failure_events(
    tx: Tx, now: float, hold: float, limit: int
) -> tuple[list[FailureEvent], int]:
    """The due failure events this node delivers now (each claimed for ``hold`` seconds), and
    how many were dropped for having had every delivery already (begun, never answered: the
    node delivering them stopped)."""
    claimed: list[FailureEvent] = []
    dropped = 0
    for e in tx.due_failure_events(now, limit):
        if e.attempts >= FAILURE_EVENT_DELIVERIES:
            tx.delete_failure_event(e.event_id)
            dropped += 1
        elif tx.claim_failure_event(e.event_id, e.attempts, now + hold):
            claimed.append(dataclasses.replace(e, attempts=e.attempts + 1, due=now + hold))
    return claimed, dropped


def drop_failure_events(tx: Tx, now: float, limit: int) -> int:
    """Drop the due failure events (the event bus is not mapped any more); how many."""
    due = tx.due_failure_events(now, limit)
    for e in due:
        tx.delete_failure_event(e.event_id)
    return len(due)


def release_failure_events(tx: Tx, event_ids: Sequence[str], now: float) -> None:
    """Deliveries that stopped without an outcome (the server is stopping): due at once."""
    for event_id in event_ids:
        tx.retry_failure_event(event_id, now)


def delivered_failure_event(tx: Tx, event_id: str, verdict: Delivery, now: float) -> None:
    if verdict == Delivery.RETRY:
        tx.retry_failure_event(event_id, now)  # due at once: the next sweep takes it
    else:
        tx.delete_failure_event(event_id)


# --- how an invocation ends --------------------------------------------------------------------

_CALLBACK_MEMBERS = {
    "Content": "content",
    "Metadata": "metadata",
    "MessageAttributes": "attributes",
    "ContentType": "content_type",
    "PushNotification": "push",
}


# ahead: its first statement is its invocation's (``invocation_for_callback``), which a send
# does not change, and another unit's ending of the same invocation drops it (``Store.write``).
@operation("ChannelFlowCallback", writes=True, ahead=True)
def callback(
    tx: Tx, call: Call, p: MessagingChannelFlowCallbackRequest
) -> Result[MessagingChannelFlowCallbackResponse]:
    """The processor's answer. No bearer: IAM allows chime:ChannelFlowCallback on the channel.
    The same CallbackId with the same body answers the same again; with another body it is a
    Conflict; once the FallbackAction ended the invocation (an unreachable processor, or the
    window passed), Forbidden."""
    from bellwire.domain import messages  # the content rules; messages imports this module

    output: MessagingChannelFlowCallbackResponse = {
        "ChannelArn": p["ChannelArn"],
        "CallbackId": p["CallbackId"],
    }
    reads = tx.invocation_for_callback(p["CallbackId"])
    invocation = None if reads is None else reads.invocation
    if invocation is None or invocation.channel_arn != p["ChannelArn"]:
        raise BadRequest(
            f"No message of the channel {p['ChannelArn']} is waiting for the CallbackId "
            f"{p['CallbackId']}."
        )
    changed: Mapping[str, Any] = p["ChannelMessage"]
    if changed["MessageId"] != invocation.message_id:
        raise BadRequest(
            f"The CallbackId {p['CallbackId']} was issued for the message "
            f"{invocation.message_id}, not {changed['MessageId']}."
        )
    print_ = fingerprint(p, exclude=())
    if invocation.state != "PENDING":
        if invocation.fingerprint == print_:
            return Result(output)
        if invocation.fingerprint is None:
            raise Forbidden(
                f"The message {invocation.message_id} is no longer waiting for its processor: "
                f"{invocation.detail or 'its FallbackAction applied'}."
            )
        raise Conflict(
            f"The CallbackId {p['CallbackId']} was already used with a different callback."
        )
    sub = changed.get("SubChannelId")
    if sub is not None and sub != invocation.message.get("sub_channel_id"):
        # The message stays where it was sent: a processor cannot move it to another one.
        raise BadRequest(
            f"The message {invocation.message_id} was sent to "
            + (
                f"the sub-channel {invocation.message['sub_channel_id']}"
                if invocation.message.get("sub_channel_id")
                else "a channel without sub-channels"
            )
            + f", not to the sub-channel {sub}."
        )
    if p.get("DeleteResource"):
        return _with(
            output, settle(tx, call.now, invocation, "DENIED", fingerprint=print_, reads=reads)
        )
    # The message as the processor left it, as columns: one Message is built from them in
    # settle (dataclasses.replace of a Message costs 2.5 builds of one).
    columns = dict(invocation.message)
    for member, field in _CALLBACK_MEMBERS.items():
        if member in changed:
            columns[field] = changed[member]
    messages.check_message(columns["type"], columns["content"] or "", columns["attributes"])
    if not invocation.last and _still_there(tx, invocation):
        proposed = _message(columns)
        following = _hand_on(tx, call.now, invocation, proposed, call.node, fingerprint=print_)
        return Result(output, invocations=[following])
    return _with(
        output,
        settle(tx, call.now, invocation, "SENT", columns=columns, fingerprint=print_, reads=reads),
    )


def _with(
    output: MessagingChannelFlowCallbackResponse, result: AnyResult
) -> Result[MessagingChannelFlowCallbackResponse]:
    # The settled message's bot calls, pushes and what its staging knows go on with it.
    return Result(
        output,
        result.events,
        bot_calls=result.bot_calls,
        pushes=result.pushes,
        streaming=result.streaming,
    )


def fall_back(
    tx: Tx,
    now: float,
    callback_id: str,
    reason: str,
    failure: FailureEvent | None = None,
    node: str = "",
) -> Result[dict[str, bool]]:
    """The processor could not be invoked, or did not call back in time: its FallbackAction
    decides. ABORT fails the message, CONTINUE sends it as it was submitted. An invocation that
    already ended is left alone (a callback may have won the race). ``failure``: the EventBridge
    event reporting it, kept in the same commit for the event bus (whatever the outcome here,
    as AWS emits it for every invocation that failed). ``node``: the node that falls back, which
    invokes the next processor when CONTINUE hands the message on."""
    if failure is not None:
        tx.insert_failure_event(failure)
    invocation = tx.invocation(callback_id)
    if invocation is None or invocation.state != "PENDING":
        return Result({"Applied": False})
    state = "SENT" if invocation.processor.get("FallbackAction") == "CONTINUE" else "FAILED"
    if state == "SENT" and not invocation.last and _still_there(tx, invocation):
        # CONTINUE on a processor that is not the last: the next one sees the message as this
        # one received it (AWS: only CONTINUE on the last processor sends the message).
        message = _message(invocation.message)
        following = _hand_on(tx, now, invocation, message, node, detail=reason)
        return Result({"Applied": True}, invocations=[following])
    result = settle(tx, now, invocation, state, detail=reason)
    return Result({"Applied": True}, result.events, streaming=result.streaming)


def _still_there(tx: Tx, invocation: FlowInvocation) -> bool:
    """Whether what the invocation is about still exists (``settle`` says what happens when it
    does not: the message is moot, nobody hears anything)."""
    if tx.channel(invocation.channel_arn) is None:
        return False
    if invocation.kind == "CREATE" and invocation.message.get("persistence") != "PERSISTENT":
        return True
    current = tx.message(invocation.channel_arn, invocation.message_id)
    return current is not None and not (invocation.kind == "UPDATE" and current.redacted)


def _hand_on(
    tx: Tx,
    now: float,
    invocation: FlowInvocation,
    message: Message,
    node: str,
    *,
    fingerprint: str | None = None,
    detail: str | None = None,
) -> FlowInvocation:
    """End this step CONTINUED and start the next processor's invocation, with ``message`` as
    this step left it and a CallbackId of its own. Its window starts now: each processor has
    the whole window, as each Lambda would."""
    tx.end_invocation(
        invocation.callback_id, "CONTINUED", now, detail=detail, fingerprint=fingerprint
    )
    following = dataclasses.replace(
        invocation,
        callback_id=ids.ordered_hex_id(32, now),
        processor=invocation.processors[invocation.step],
        message=_columns(dataclasses.replace(message, status="PENDING")),
        state="PENDING",
        created=now,
        ended=None,
        detail=None,
        fingerprint=None,
        step=invocation.step + 1,
        chain=list(invocation.processors),
        accepted=None,  # the next processor has not seen it yet
        invoker=node or None,
    )
    tx.insert_invocation(following)
    return following


def settle(
    tx: Tx,
    now: float,
    invocation: FlowInvocation,
    state: str,
    *,
    columns: Mapping[str, Any] | None = None,
    detail: str | None = None,
    fingerprint: str | None = None,
    reads: CallbackReads | None = None,
) -> AnyResult:
    """End ``invocation`` as SENT, DENIED or FAILED: the stored message, and who hears what.
    ``columns``: the message as the processor left it (else as it was submitted). ``reads``:
    the channel's context and the message's existence, read with the invocation in this unit
    (nothing between changed them); without them, read here."""
    tx.end_invocation(invocation.callback_id, state, now, detail=detail, fingerprint=fingerprint)
    if columns is None:
        columns = invocation.message
    m = _message(columns)
    # Only whether they exist, not their rows: a settle is half of a flow message's writes.
    found = tx.app_instance_of_channel(invocation.channel_arn) if reads is None else reads.channel
    if found is None:  # deleted while the processor had the message
        return Result({})
    app_instance_arn, has_bots, streaming = found
    # Staging the settled message's stream records need not read them again.
    known: dict[str, Mapping[str, str]] = {app_instance_arn: streaming}
    channel_arn = invocation.channel_arn
    persistent = m.persistence == "PERSISTENT"
    events: list[BusEvent] = []
    if invocation.kind == "CREATE":
        stored = persistent and (
            tx.message_exists(m.channel_arn, m.message_id)
            if reads is None
            else reads.message_stored
        )
        if persistent and not stored:  # deleted meanwhile (DeleteChannel, an admin)
            return Result({})
        if state == "SENT":
            # The message takes its place in the channel now: flows deliver in the order their
            # processors finish (docs/channel-flows.md).
            seq = tx.next_seq(channel_arn, last_message=now if persistent else None)
            m = _message({**columns, "seq": seq, "status": "SENT"})
            if persistent:
                _store(tx, m, seq=seq, now=m.last_updated, edited=False)
            events.append(_to_members(EventType.CREATE_CHANNEL_MESSAGE, m, seq))
            # Bots and pushes see the message as the flow let it through.
            return Result(
                {},
                events,
                # No bot is a member: nothing to ask (as a plain send skips it).
                bot_calls=bots.calls_for(tx, app_instance_arn, m) if has_bots else [],
                pushes=push.pushes_for(tx, m),
                streaming=known,
            )
        elif state == "DENIED":
            # Nothing of a denied message is kept (GetChannelMessageStatus: not found).
            if persistent:
                tx.delete_message(m.channel_arn, m.message_id)
            events.append(_to_sender(tx, _DENIED["CREATE"], m, "DENIED", None))
        else:
            if persistent:
                _store(
                    tx,
                    dataclasses.replace(m, status="FAILED"),
                    seq=None,
                    now=m.last_updated,
                    edited=False,
                )
            events.append(_to_sender(tx, _FAILED["CREATE"], m, "FAILED", detail))
        return Result({}, events, streaming=known)
    current = tx.message(m.channel_arn, m.message_id)
    if current is None or current.redacted:  # deleted or redacted meanwhile: the edit is moot
        return Result({})
    if state == "SENT":
        edited = dataclasses.replace(
            m, status=current.status, last_updated=now, last_edited=now, seq=current.seq
        )
        _store(tx, edited, seq=None, now=now, edited=True)
        events.append(
            _to_members(EventType.UPDATE_CHANNEL_MESSAGE, edited, tx.next_seq(channel_arn))
        )
    elif state == "DENIED":
        events.append(_to_sender(tx, _DENIED["UPDATE"], m, "DENIED", None))
    else:
        events.append(_to_sender(tx, _FAILED["UPDATE"], m, "FAILED", detail))
    return Result({}, events, streaming=known)


def _store(tx: Tx, m: Message, *, seq: int | None, now: float, edited: bool) -> None:
    tx.settle_message(
        m.channel_arn,
        m.message_id,
        seq=seq,
        status=m.status,
        content=m.content,
        metadata=m.metadata,
        attributes=m.attributes,
        content_type=m.content_type,
        push=m.push,
        now=now,
        edited=edited,
    )


def _to_members(kind: EventType, m: Message, seq: int) -> BusEvent:
    return message_event(
        kind,
        route_key(m.channel_arn, m.sub_channel_id),  # an elastic channel: its sub-channel only
        seq,
        shapes.channel_message(m, shapes.event_ts),
        message_type=m.type,
        sender=m.sender_arn,
        target=m.target_arn,
    )


def _to_sender(tx: Tx, kind: EventType, m: Message, status: str, detail: str | None) -> BusEvent:
    payload = shapes.channel_message(dataclasses.replace(m, status=status), shapes.event_ts)
    if detail:
        payload["Status"] = {"Value": status, "Detail": detail[:256]}
    route = route_key(m.channel_arn, m.sub_channel_id)
    return sender_only_event(kind, route, tx.next_seq(m.channel_arn), payload, m.sender_arn)


def expired(tx: Tx, created_before: float, limit: int) -> list[str]:
    """CallbackIds of invocations whose window has passed (the invoker falls back on them)."""
    return [i.callback_id for i in tx.pending_invocations(created_before, limit)]


def accept(tx: Tx, callback_ids: Sequence[str], now: float) -> None:
    """The processors accepted these invocations (2xx): from now on they wait for a callback,
    and no node invokes them again."""
    tx.accept_invocations(callback_ids, now)


def hand_back(tx: Tx, accepted: Sequence[str], stopped: Sequence[str], now: float) -> None:
    """A node that stops notes what its processors accepted and ends its claim on what it was
    still invoking, so that the next node to look (another, or itself restarted) invokes those
    at once rather than when the claim would have passed."""
    tx.accept_invocations(accepted, now)
    tx.hand_back_invocations(stopped, now)


def claim(
    tx: Tx, node: str, mine_before: float, free_before: float, hold: float, now: float, limit: int
) -> list[FlowInvocation]:
    """Invocations still to be invoked whose invoker is gone (its claim ended before
    ``mine_before`` when it was ``node``'s, else before ``free_before``), claimed by ``node``
    for ``hold`` seconds, oldest first."""
    return tx.claim_invocations(node, mine_before, free_before, hold, now + hold, limit)


# Ended invocations forgotten per write by the invoker's sweep (docs/performance.md,
# "Forgetting old tokens").
FORGET_BATCH = 200


def forget_before(tx: Tx, moment: float) -> bool:
    """Forget a batch of invocations ended before ``moment``; True if more may be left."""
    return tx.forget_invocations_before(moment, FORGET_BATCH)
