"""Pure: what invokes an AppInstanceBot, what its webhook receives, what is posted back.

In AWS a bot is an Amazon Lex V2 bot alias; here the alias ARN is mapped by ``[resources]`` to
a URL that receives a request shaped like Lex V2 RecognizeText (``docs/bots-and-push.md``) and
answers like it. This module holds the rules of spec §11A.2 without any I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.records.bots import BotCall

MENTIONS = "CHIME.mentions"
LEX_MSGS = "application/amz-chime-lex-msgs"
LEX_ERROR = "application/amz-chime-lex-error"
MAX_TEXT = 1024  # Lex's cap on RecognizeText input
MAX_REPLY_BYTES = 4096  # a STANDARD message's content


def mentions_of(attributes: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The ARNs in the message attribute ``CHIME.mentions`` (its StringValues)."""
    value = (attributes or {}).get(MENTIONS) or {}
    return tuple(str(v) for v in value.get("StringValues") or ())


def invoked_by(lex: Mapping[str, Any]) -> tuple[str, str]:
    """(StandardMessages, TargetedMessages). Without InvokedBy, the deprecated RespondsTo
    STANDARD_MESSAGES acts like ALL [INFERRED]; with neither, the bot answers nothing."""
    given = lex.get("InvokedBy")
    if given:
        return str(given["StandardMessages"]), str(given["TargetedMessages"])
    if lex.get("RespondsTo") == "STANDARD_MESSAGES":
        return "ALL", "NONE"
    return "NONE", "NONE"


def invokes(
    lex: Mapping[str, Any],
    *,
    bot_arn: str,
    message_type: str,
    sender_is_bot: bool,
    target: str | None,
    mentions: Sequence[str],
    other_shown_members: int,
) -> bool:
    """Whether a message makes the bot ``bot_arn`` (a member of the channel) process it.

    ``other_shown_members``: the channel's non-hidden members other than the bot (AUTO)."""
    if message_type != "STANDARD" or sender_is_bot:
        return False  # control messages never invoke; bots never invoke bots (no loops)
    standard, targeted = invoked_by(lex)
    if target is not None:
        return target == bot_arn and targeted == "ALL"
    if standard == "ALL":
        return True
    if standard == "MENTIONS":
        return bot_arn in mentions
    if standard == "AUTO":
        return other_shown_members == 1 or bot_arn in mentions
    return False


def session_id(channel_arn: str, sender_arn: str) -> str:
    """One Lex session per (channel, sender), derived so that it is the same every time
    [INFERRED]; Lex session ids are at most 100 of ``[0-9a-zA-Z._:-]``."""
    digest = hashlib.sha256(f"{channel_arn}\n{sender_arn}".encode()).hexdigest()
    return digest[:64]


def _alias_ids(alias_arn: str) -> tuple[str, str]:
    # arn:aws:lex:REGION:ACCOUNT:bot-alias/BOTID/ALIASID
    _, _, path = alias_arn.partition(":bot-alias/")
    bot_id, _, alias_id = path.partition("/")
    return bot_id, alias_id


def request(call: BotCall) -> dict[str, Any]:
    """The body POSTed to the bot's webhook: Lex V2 RecognizeText's request (text,
    requestAttributes, sessionState) with the URI's parameters as members, or, for the welcome,
    PutSession's (the session's intent set to the WelcomeIntent) [INFERRED]."""
    lex = call.lex
    bot_id, alias_id = _alias_ids(str(lex["LexBotAliasArn"]))
    attributes = {"CHIME.channel.arn": call.channel_arn, "CHIME.sender.arn": call.sender_arn}
    if call.mentions:
        attributes[MENTIONS] = ",".join(call.mentions)
    body: dict[str, Any] = {
        "operation": "RecognizeText" if call.text is not None else "PutSession",
        "botAliasArn": lex["LexBotAliasArn"],
        "botId": bot_id,
        "botAliasId": alias_id,
        "localeId": lex["LocaleId"],
        "sessionId": session_id(call.channel_arn, call.sender_arn),
        "requestAttributes": attributes,
        "appInstanceBotArn": call.bot_arn,
    }
    if call.text is not None:
        body["text"] = call.text
        body["sessionState"] = {}
    else:
        body["sessionState"] = {
            "dialogAction": {"type": "Delegate"},
            "intent": {"name": lex["WelcomeIntent"], "state": "InProgress"},
        }
    return body


@dataclass(frozen=True, slots=True)
class Reply:
    """What the bot posts: a STANDARD lex-msgs message, or a CONTROL lex-error one."""

    type: str
    content_type: str
    content: str
    attributes: Mapping[str, Any]


class LexFailure(Exception):
    """The bot could not answer; ``code`` is the Lex V2 runtime exception it stands for."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


# HTTP status of the webhook's answer -> the Lex V2 runtime exception of that status.
_STATUS_CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ConflictException",
    429: "ThrottlingException",
}


def failure_of_status(status: int | None, busy: bool = False) -> str:
    if busy:
        return "ThrottlingException"
    if status is None or status >= 500:
        return "DependencyFailedException"
    return _STATUS_CODES.get(status, "BadGatewayException")


def error_reply(code: str) -> Reply:
    """The failure reply: a CONTROL message (troubleshooting: "the SDK sends CONTROL messages
    with an error message") whose content is ``{"Code": ...}``."""
    return Reply("CONTROL", LEX_ERROR, json.dumps({"Code": code}, separators=(",", ":")), {})


def _card(card: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Title": str(card.get("title", ""))}
    for key, name in (("subtitle", "Subtitle"), ("imageUrl", "ImageUrl")):
        if card.get(key) is not None:
            out[name] = str(card[key])
    buttons = card.get("buttons")
    if isinstance(buttons, list):
        out["Buttons"] = [
            {"Text": str(b.get("text", "")), "Value": str(b.get("value", ""))}
            for b in buttons
            if isinstance(b, Mapping)
        ]
    return out


def _message(m: Any) -> dict[str, Any]:
    if not isinstance(m, Mapping) or not isinstance(m.get("contentType"), str):
        raise LexFailure("BadGatewayException", "a message of the answer has no contentType")
    out: dict[str, Any] = {"ContentType": m["contentType"]}
    if m.get("content") is not None:
        out["Content"] = str(m["content"])
    if isinstance(m.get("imageResponseCard"), Mapping):
        out["ImageResponseCard"] = _card(m["imageResponseCard"])
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def reply(call: BotCall, answer: bytes) -> Reply | None:
    """The bot's message made of its webhook's answer (a RecognizeText response); None when
    the answer has no messages (nothing to post). Raises :class:`LexFailure` on an answer that
    is not one."""
    try:
        parsed = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        raise LexFailure("BadGatewayException", "the answer is not JSON") from None
    if not isinstance(parsed, Mapping):
        raise LexFailure("BadGatewayException", "the answer is not a JSON object")
    messages = parsed.get("messages") or []
    if not isinstance(messages, list):
        raise LexFailure("BadGatewayException", "messages is not a list")
    if not messages:
        return None
    content = json.dumps({"Messages": [_message(m) for m in messages]}, separators=(",", ":"))
    if len(content.encode()) > MAX_REPLY_BYTES:
        raise LexFailure("ValidationException", "the answer exceeds a message's 4096 bytes")
    state = _mapping(parsed.get("sessionState"))
    intent = _mapping(state.get("intent"))
    attributes: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if isinstance(value, str) and value:
            attributes[f"CHIME.LEX.sessionState.{name}"] = {"StringValues": [value]}

    put("intent.name", intent.get("name"))
    put("intent.state", intent.get("state"))
    put("originatingRequestId", call.message_id)
    put("sessionId", parsed.get("sessionId") or session_id(call.channel_arn, call.sender_arn))
    return Reply("STANDARD", LEX_MSGS, content, attributes)
