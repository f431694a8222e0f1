"""Vectors of ``domain/lex.py``: what invokes a bot, the request, the reply (spec §11A.2)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bellwire.domain import lex
from bellwire.records.bots import BotCall

BOT = "arn:aws:chime:us-east-1:123456789012:app-instance/a/bot/b"
OTHER = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u"
ALIAS = "arn:aws:lex:us-east-1:123456789012:bot-alias/ABCDE12345/FGHIJ67890"


def config(standard: str | None, targeted: str = "NONE", **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"LexBotAliasArn": ALIAS, "LocaleId": "en_US", **extra}
    if standard is not None:
        c["InvokedBy"] = {"StandardMessages": standard, "TargetedMessages": targeted}
    return c


def invokes(
    c: dict[str, Any],
    *,
    type_: str = "STANDARD",
    from_bot: bool = False,
    target: str | None = None,
    mentions: tuple[str, ...] = (),
    others: int = 2,
) -> bool:
    return lex.invokes(
        c,
        bot_arn=BOT,
        message_type=type_,
        sender_is_bot=from_bot,
        target=target,
        mentions=mentions,
        other_shown_members=others,
    )


@pytest.mark.parametrize(
    ("c", "kwargs", "expected"),
    [
        (config("ALL"), {}, True),
        (config("ALL"), {"type_": "CONTROL"}, False),
        (config("ALL"), {"from_bot": True}, False),
        (config("NONE"), {}, False),
        (config("MENTIONS"), {}, False),
        (config("MENTIONS"), {"mentions": (OTHER,)}, False),
        (config("MENTIONS"), {"mentions": (OTHER, BOT)}, True),
        (config("AUTO"), {"others": 1}, True),
        (config("AUTO"), {"others": 2}, False),
        (config("AUTO"), {"others": 2, "mentions": (BOT,)}, True),
        (config("ALL", "NONE"), {"target": BOT}, False),
        (config("NONE", "ALL"), {"target": BOT}, True),
        (config("ALL", "ALL"), {"target": OTHER}, False),
        (config(None), {}, False),
        (config(None, RespondsTo="STANDARD_MESSAGES"), {}, True),
        (config(None, RespondsTo="STANDARD_MESSAGES"), {"target": BOT}, False),
    ],
)
def test_what_invokes_a_bot(c: dict[str, Any], kwargs: dict[str, Any], expected: bool) -> None:
    assert invokes(c, **kwargs) is expected


def test_mentions_come_from_the_chime_mentions_attribute() -> None:
    assert lex.mentions_of(None) == ()
    assert lex.mentions_of({"mention": {"StringValues": [BOT]}}) == ()
    assert lex.mentions_of({"CHIME.mentions": {"StringValues": [OTHER, BOT]}}) == (OTHER, BOT)


def call(text: str | None = "hi", **kwargs: Any) -> BotCall:
    return BotCall(
        BOT, "app", config("ALL", WelcomeIntent="Hello"), "chan", OTHER, "m1", text, **kwargs
    )


def test_the_request_is_shaped_like_recognize_text() -> None:
    body = lex.request(call("hi", mentions=(BOT,)))
    assert body == {
        "operation": "RecognizeText",
        "botAliasArn": ALIAS,
        "botId": "ABCDE12345",
        "botAliasId": "FGHIJ67890",
        "localeId": "en_US",
        "sessionId": lex.session_id("chan", OTHER),
        "requestAttributes": {
            "CHIME.channel.arn": "chan",
            "CHIME.sender.arn": OTHER,
            "CHIME.mentions": BOT,
        },
        "appInstanceBotArn": BOT,
        "text": "hi",
        "sessionState": {},
    }
    welcome = lex.request(call(None))
    assert welcome["operation"] == "PutSession" and "text" not in welcome
    assert welcome["sessionState"]["intent"] == {"name": "Hello", "state": "InProgress"}


def test_the_session_is_one_per_channel_and_sender() -> None:
    one = lex.session_id("c1", "s1")
    assert one == lex.session_id("c1", "s1")
    assert len({one, lex.session_id("c2", "s1"), lex.session_id("c1", "s2")}) == 3
    assert len(one) <= 100 and one.isalnum()


def test_the_reply_mirrors_the_lex_messages() -> None:
    answer = {
        "messages": [
            {"content": "Hi", "contentType": "PlainText"},
            {
                "contentType": "ImageResponseCard",
                "imageResponseCard": {
                    "title": "T",
                    "imageUrl": "https://x/y.png",
                    "buttons": [{"text": "A", "value": "a"}],
                },
            },
        ],
        "sessionState": {"intent": {"name": "Greet", "state": "InProgress"}},
        "sessionId": "s-1",
    }
    reply = lex.reply(call(), json.dumps(answer).encode())
    assert reply is not None
    assert (reply.type, reply.content_type) == ("STANDARD", lex.LEX_MSGS)
    assert json.loads(reply.content) == {
        "Messages": [
            {"Content": "Hi", "ContentType": "PlainText"},
            {
                "ContentType": "ImageResponseCard",
                "ImageResponseCard": {
                    "Title": "T",
                    "ImageUrl": "https://x/y.png",
                    "Buttons": [{"Text": "A", "Value": "a"}],
                },
            },
        ]
    }
    assert reply.attributes == {
        "CHIME.LEX.sessionState.intent.name": {"StringValues": ["Greet"]},
        "CHIME.LEX.sessionState.intent.state": {"StringValues": ["InProgress"]},
        "CHIME.LEX.sessionState.originatingRequestId": {"StringValues": ["m1"]},
        "CHIME.LEX.sessionState.sessionId": {"StringValues": ["s-1"]},
    }
    assert lex.reply(call(), b'{"messages": []}') is None


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (b"not json", "BadGatewayException"),
        (b"[1]", "BadGatewayException"),
        (b'{"messages": "x"}', "BadGatewayException"),
        (b'{"messages": [{"content": "no type"}]}', "BadGatewayException"),
        (
            json.dumps(
                {"messages": [{"content": "x" * 5000, "contentType": "PlainText"}]}
            ).encode(),
            "ValidationException",
        ),
    ],
)
def test_an_answer_that_is_no_recognize_text_response_fails(answer: bytes, code: str) -> None:
    with pytest.raises(lex.LexFailure) as info:
        lex.reply(call(), answer)
    assert info.value.code == code


def test_failures_are_control_messages_with_a_code() -> None:
    reply = lex.error_reply("ThrottlingException")
    assert (reply.type, reply.content_type) == ("CONTROL", lex.LEX_ERROR)
    assert json.loads(reply.content) == {"Code": "ThrottlingException"}
    assert lex.failure_of_status(None) == "DependencyFailedException"
    assert lex.failure_of_status(503) == "DependencyFailedException"
    assert lex.failure_of_status(429) == "ThrottlingException"
    assert lex.failure_of_status(404) == "ResourceNotFoundException"
    assert lex.failure_of_status(418) == "BadGatewayException"
    assert lex.failure_of_status(None, busy=True) == "ThrottlingException"
