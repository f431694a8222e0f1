"""A bot conversation with the official JavaScript clients (spec §11A.2).

A person's amazon-chime-sdk-js DefaultMessagingSession sends through the AWS SDK for JavaScript
v3 with the bot in ``CHIME.mentions``; the bot (a Lex-shaped webhook on loopback, reached
through ``[resources]``) answers, and both the person's session and another member's see the
answer as an ordinary CREATE_CHANNEL_MESSAGE from the bot, with the
``application/amz-chime-lex-msgs`` content type.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_server import SECRET, Hook, lex_configuration
from test_js_clients import NodeScenario, established, is_message, node, node_modules, payload_of
from tlsworld import Tls, make_world

from bellwire.testing import RunningServer, start_server

__all__ = ["node", "node_modules"]  # fixtures used here

ALIAS = "arn:aws:lex:us-east-1:123456789012:bot-alias/JSBOT00001/ALIAS00001"

pytestmark = pytest.mark.timeout(300)


def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {
        "messages": [{"content": f"you said: {body['text']}", "contentType": "PlainText"}],
        "sessionState": {"intent": {"name": "Echo", "state": "Fulfilled"}},
        "sessionId": body["sessionId"],
    }


@pytest.fixture
def bot_server(tls: Tls, tmp_path: Path) -> Iterator[tuple[RunningServer, Hook]]:
    hook = Hook(answer).start()
    running = start_server(
        tmp_path / "bots",
        tls_cert=tls.cert,
        tls_key=tls.key,
        webhook_secret=SECRET,
        resources={ALIAS: hook.url},
    )
    try:
        yield running, hook
    finally:
        running.stop()
        hook.stop()


def test_a_bot_conversation_through_the_javascript_clients(
    node: Callable[..., NodeScenario], bot_server: tuple[RunningServer, Hook], tls: Tls
) -> None:
    running, hook = bot_server
    world = make_world(running, tls)
    try:
        alice, bob = world.users["alice"], world.users["bob"]
        bot = world.identity.create_app_instance_bot(
            AppInstanceArn=world.app,
            Name="Echo",
            Configuration=lex_configuration(ALIAS, standard="MENTIONS"),
            ClientRequestToken=uuid.uuid4().hex,
        )["AppInstanceBotArn"]
        channel = world.channel(alice, bob, bot)
        person, member = node(running, alice), node(running, bob)
        established(person)
        established(member)

        asked = person.send(
            channel,
            "what time is it?",
            messageAttributes={"CHIME.mentions": {"StringValues": [bot]}},
        )
        (request,) = hook.arrived(1)
        assert request["text"] == "what time is it?"
        assert request["requestAttributes"]["CHIME.sender.arn"] == alice
        assert request["requestAttributes"]["CHIME.mentions"] == bot

        def from_bot(e: dict[str, Any]) -> bool:
            return is_message("CREATE_CHANNEL_MESSAGE")(e) and payload_of(e)["Sender"]["Arn"] == bot

        for scenario in (person, member):
            (reply,) = scenario.wait_for(from_bot, "the bot's answer")
            body = payload_of(reply)
            assert body["Sender"] == {"Arn": bot, "Name": "Echo"}
            assert body["ContentType"] == "application/amz-chime-lex-msgs"
            assert json.loads(body["Content"]) == {
                "Messages": [{"Content": "you said: what time is it?", "ContentType": "PlainText"}]
            }
            attributes = body["MessageAttributes"]
            assert attributes["CHIME.LEX.sessionState.originatingRequestId"] == {
                "StringValues": [asked]
            }
        person.assert_clean()
        member.assert_clean()
    finally:
        world.close()
