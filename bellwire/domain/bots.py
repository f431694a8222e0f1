"""chime-sdk-identity: AppInstanceBots (spec §11A.2), and the rules of when a bot is called.

A bot is a row of ``app_instance_bots`` (its configuration) and a row of the users table under
the same ARN (``…/bot/<id>``): so it can be a channel member, a ChimeBearer and a ``Sender``
through the same rules as a user. Calling its webhook happens after the commit
(``bellwire/bot_invoker.py``); what a send decides here is who is due a call.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from bellwire import ids
from bellwire.aws import arn as arns
from bellwire.aws.errors import BadRequest, NotFound
from bellwire.aws.shapes import (
    IdentityAppInstanceBot,
    IdentityAppInstanceBotSummary,
    IdentityCreateAppInstanceBotRequest,
    IdentityCreateAppInstanceBotResponse,
    IdentityDeleteAppInstanceBotRequest,
    IdentityDescribeAppInstanceBotRequest,
    IdentityDescribeAppInstanceBotResponse,
    IdentityListAppInstanceBotsRequest,
    IdentityListAppInstanceBotsResponse,
    IdentityUpdateAppInstanceBotRequest,
    IdentityUpdateAppInstanceBotResponse,
    NoOutput,
)
from bellwire.domain import lex, shapes
from bellwire.domain.delivery import BusEvent, membership_deleted, message_event
from bellwire.domain.identity import require_app_instance
from bellwire.domain.operation import (
    AnyResult,
    Call,
    Result,
    decode_token,
    operation,
    page_size,
    paginate,
    remember,
    replay,
)
from bellwire.events import EventType
from bellwire.records.bots import AppInstanceBot, BotCall
from bellwire.records.chime import AppInstanceUser, Message
from bellwire.resources import ResourceError, ResourceMap
from bellwire.store.base import Tx

LEX_ALIAS = "Lex bot alias"
SCHEMES = ("http", "https")


def is_bot_arn(arn: str) -> bool:
    parsed = arns.parse(arn)
    return parsed is not None and parsed.kind == "bot"


def _require_bot(tx: Tx, arn: str) -> AppInstanceBot:
    found = tx.bot(arn) if is_bot_arn(arn) else None
    if found is None:
        raise NotFound(f"The app instance bot {arn} does not exist.")
    return found


def _check_configuration(resources: ResourceMap, configuration: Mapping[str, Any]) -> None:
    lex_config = configuration.get("Lex")
    if not lex_config:
        raise BadRequest("Configuration.Lex is required: a bot is backed by a Lex V2 bot alias.")
    try:
        resources.require(str(lex_config["LexBotAliasArn"]), what=LEX_ALIAS, schemes=SCHEMES)
    except ResourceError as exc:
        raise BadRequest(str(exc)) from None


def _shape(b: AppInstanceBot) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "AppInstanceBotArn": b.arn,
            "Name": b.name or None,
            "Metadata": b.metadata,
            "Configuration": b.configuration,
            "CreatedTimestamp": shapes.rest_ts(b.created),
            "LastUpdatedTimestamp": shapes.rest_ts(b.updated),
        }.items()
        if v is not None
    }


@operation("CreateAppInstanceBot", writes=True)
def create_bot(
    tx: Tx, call: Call, p: IdentityCreateAppInstanceBotRequest
) -> Result[IdentityCreateAppInstanceBotResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    scope = f"CreateAppInstanceBot|{app.arn}"
    alive = lambda out: tx.bot(out["AppInstanceBotArn"]) is not None  # noqa: E731
    if (
        previous := replay(tx, scope, p, alive, output=IdentityCreateAppInstanceBotResponse)
    ) is not None:
        return Result(previous)
    configuration = dict(p["Configuration"])
    _check_configuration(call.resources, configuration)
    arn = arns.child(app.arn, "bot", str(uuid.uuid4()))
    name = p.get("Name") or ""
    tx.insert_user(AppInstanceUser(arn, app.arn, name, p.get("Metadata"), call.now, call.now))
    tx.insert_bot(
        AppInstanceBot(arn, app.arn, name, p.get("Metadata"), configuration, call.now, call.now)
    )
    if p.get("Tags"):
        tx.put_tags(arn, {t["Key"]: t["Value"] for t in p["Tags"]})
    output = IdentityCreateAppInstanceBotResponse(AppInstanceBotArn=arn)
    remember(tx, call, scope, p, output)
    return Result(output)


@operation("DescribeAppInstanceBot", writes=False)
def describe_bot(
    tx: Tx, call: Call, p: IdentityDescribeAppInstanceBotRequest
) -> Result[IdentityDescribeAppInstanceBotResponse]:
    shape = cast(IdentityAppInstanceBot, _shape(_require_bot(tx, p["AppInstanceBotArn"])))
    return Result(IdentityDescribeAppInstanceBotResponse(AppInstanceBot=shape))


@operation("UpdateAppInstanceBot", writes=True)
def update_bot(
    tx: Tx, call: Call, p: IdentityUpdateAppInstanceBotRequest
) -> Result[IdentityUpdateAppInstanceBotResponse]:
    bot = _require_bot(tx, p["AppInstanceBotArn"])
    configuration: Mapping[str, Any] = bot.configuration
    if p.get("Configuration"):
        configuration = dict(p["Configuration"])
        _check_configuration(call.resources, configuration)
    tx.update_bot(bot.arn, p["Name"], p["Metadata"], configuration, call.now)
    # The name members see as Sender and in memberships.
    tx.update_user(bot.arn, p["Name"], p["Metadata"], call.now)
    return Result(IdentityUpdateAppInstanceBotResponse(AppInstanceBotArn=bot.arn))


@operation("DeleteAppInstanceBot", writes=True)
def delete_bot(tx: Tx, call: Call, p: IdentityDeleteAppInstanceBotRequest) -> Result[NoOutput]:
    """The bot leaves its channels as a deleted user does: the members see it go."""
    bot = _require_bot(tx, p["AppInstanceBotArn"])
    memberships = [m for m, _ in tx.memberships_with_channels(bot.arn)]
    names = tx.user_names([bot.arn, *(m.invited_by for m in memberships)])
    events: list[BusEvent] = [
        membership_deleted(
            m.channel_arn,
            tx.next_seq(m.channel_arn),
            shapes.channel_membership(m, names, shapes.event_ts),
            bot.arn,
        )
        for m in memberships
    ]
    tx.delete_user(bot.arn)
    tx.delete_bot(bot.arn)
    return Result(NoOutput(), events)


@operation("ListAppInstanceBots", writes=False)
def list_bots(
    tx: Tx, call: Call, p: IdentityListAppInstanceBotsRequest
) -> Result[IdentityListAppInstanceBotsResponse]:
    app = require_app_instance(tx, p["AppInstanceArn"])
    limit = page_size(p)
    rows, token = paginate(
        tx.list_bots(app.arn, decode_token(p, str), limit + 1), limit, lambda r: r.arn
    )
    summaries = [
        {
            k: v
            for k, v in {
                "AppInstanceBotArn": b.arn,
                "Name": b.name or None,
                "Metadata": b.metadata,
            }.items()
            if v is not None
        }
        for b in rows
    ]
    return Result(
        IdentityListAppInstanceBotsResponse(
            AppInstanceArn=app.arn,
            AppInstanceBots=cast(list[IdentityAppInstanceBotSummary], summaries),
            NextToken=token,
        )
    )


# --- when bots are called ----------------------------------------------------------------------


def calls_for(tx: Tx, app_instance_arn: str, m: Message) -> list[BotCall]:
    """The bots of the channel that ``m`` (just sent to its members) invokes."""
    if m.type != "STANDARD" or m.content is None:
        return []
    bots = tx.bots_in_channel(app_instance_arn, m.channel_arn)
    if not bots:
        return []
    sender_is_bot = is_bot_arn(m.sender_arn)
    mentions = lex.mentions_of(m.attributes)
    shown: int | None = None
    found: list[BotCall] = []
    for bot in bots:
        config = bot.configuration.get("Lex") or {}
        if lex.invoked_by(config)[0] == "AUTO" and shown is None:
            shown = tx.count_shown_members(m.channel_arn)
        others = 0
        if shown is not None:
            membership = tx.membership(m.channel_arn, bot.arn)
            hidden = membership is not None and membership.type == "HIDDEN"
            others = shown - (0 if hidden else 1)
        if lex.invokes(
            config,
            bot_arn=bot.arn,
            message_type=m.type,
            sender_is_bot=sender_is_bot,
            target=m.target_arn,
            mentions=mentions,
            other_shown_members=others,
        ):
            found.append(
                BotCall(
                    bot.arn,
                    app_instance_arn,
                    config,
                    m.channel_arn,
                    m.sender_arn,
                    m.message_id,
                    m.content,
                    mentions,
                    targeted=m.target_arn is not None,
                    persistence=m.persistence,
                )
            )
    return found


def welcome_call(tx: Tx, channel_arn: str, bot_arn: str) -> BotCall | None:
    """The welcome of a bot that has just become a member, if it has a WelcomeIntent and is
    still a member."""
    bot = tx.bot(bot_arn)
    if bot is None or tx.membership(channel_arn, bot_arn) is None:
        return None
    config = bot.configuration.get("Lex") or {}
    if not config.get("WelcomeIntent"):
        return None
    return BotCall(bot.arn, bot.app_instance_arn, config, channel_arn, bot.arn, None, None)


def post_reply(tx: Tx, now: float, call: BotCall, reply: lex.Reply) -> AnyResult:
    """Post the bot's answer in the channel as the bot, if the bot is still a member; an answer
    to a targeted message is targeted back at its sender."""
    channel = tx.channel(call.channel_arn)
    bot = tx.user(call.bot_arn)
    if channel is None or bot is None or tx.membership(channel.arn, bot.arn) is None:
        return Result({})
    target = call.sender_arn if call.targeted else None
    if target is not None and tx.membership(channel.arn, target) is None:
        return Result({})  # the one it would answer has left
    persistent = call.persistence == "PERSISTENT"
    seq = tx.next_seq(channel.arn, last_message=now if persistent else None)
    message = Message(
        channel_arn=channel.arn,
        message_id=ids.ordered_hex_id(32, now),
        seq=seq,
        sender_arn=bot.arn,
        sender_name=bot.name,
        content=reply.content,
        metadata=None,
        type=reply.type,
        persistence=call.persistence,
        redacted=False,
        created=now,
        last_updated=now,
        attributes=dict(reply.attributes) or None,
        content_type=reply.content_type,
        target_arn=target,
    )
    if persistent:
        tx.insert_message(message)
    event = message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        channel.arn,
        seq,
        shapes.channel_message(message, shapes.event_ts),
        message_type=message.type,
        sender=bot.arn,
        target=target,
    )
    return Result({"MessageId": message.message_id}, [event])
