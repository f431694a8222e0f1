"""AppInstanceBots against a real server and a real bot webhook on loopback (spec §11A.2).

The bot is an aiohttp server (``hook_server.py``) that checks bellwire's signature and answers
like Lex V2 RecognizeText; bellwire reaches it through the ``[resources]`` map of its
LexBotAliasArn. Everything else is boto3 and the Python MessagingSession client.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from hook_server import SECRET, Hook, integration_helpers, lex_configuration
from prometheus_client.parser import text_string_to_metric_families
from server_process import free_port

from bellwire.client import Established, EventType, MessagingSession, ReconnectPolicy
from bellwire.testing import RunningServer, start_server

_helpers = integration_helpers()
App = _helpers.App
make_app = _helpers.make_app
raises = _helpers.raises

REGION = "us-east-1"
ACCOUNT = "123456789012"
ECHO = f"arn:aws:lex:{REGION}:{ACCOUNT}:bot-alias/ECHOBOT001/ALIAS00001"
SLOW = f"arn:aws:lex:{REGION}:{ACCOUNT}:bot-alias/SLOWBOT001/ALIAS00001"
DEAD = f"arn:aws:lex:{REGION}:{ACCOUNT}:bot-alias/DEADBOT001/ALIAS00001"
UNMAPPED = f"arn:aws:lex:{REGION}:{ACCOUNT}:bot-alias/NOWHERE001/ALIAS00001"
NO_RETRY = Config(retries={"max_attempts": 1, "mode": "standard"})
FAST = ReconnectPolicy(base=0.05, cap=0.2, window=3.0)


def lex_answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """A Lex bot: welcomes, echoes, shows a card, or fails, as RecognizeText answers."""
    if body["operation"] == "PutSession":
        intent = body["sessionState"]["intent"]["name"]
        return 200, {
            "messages": [{"content": "Hi, I echo", "contentType": "PlainText"}],
            "sessionState": {"intent": {"name": intent, "state": "Fulfilled"}},
            "sessionId": body["sessionId"],
        }
    text = body["text"]
    if "explode" in text:
        return 500, {"message": "boom"}
    if "silence" in text:
        return 200, {"messages": [], "sessionState": {"intent": {"name": "Echo"}}}
    messages: list[dict[str, Any]] = [{"content": f"echo: {text}", "contentType": "PlainText"}]
    if "card" in text:
        messages.append(
            {
                "contentType": "ImageResponseCard",
                "imageResponseCard": {
                    "title": "Account",
                    "subtitle": "What next?",
                    "buttons": [{"text": "Check balance", "value": "balance"}],
                },
            }
        )
    return 200, {
        "messages": messages,
        "sessionState": {"intent": {"name": "Echo", "state": "Fulfilled"}},
        "sessionId": body["sessionId"],
    }


@pytest.fixture(scope="module")
def hooks() -> Iterator[dict[str, Hook]]:
    started = {ECHO: Hook(lex_answer).start(), SLOW: Hook(lex_answer).start()}
    yield started
    for hook in started.values():
        hook.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, hooks: dict[str, Hook]
) -> Iterator[RunningServer]:
    resources = {arn: hook.url for arn, hook in hooks.items()}
    resources[DEAD] = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    running = start_server(
        tmp_path_factory.mktemp("bots"),
        resources=resources,
        webhook_secret=SECRET,
        webhook_retries=0,
        webhook_timeout_seconds=5.0,
        connects_per_user_per_second=1000.0,
        connect_burst=1000,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def identity(server: RunningServer) -> Any:
    return server.client("chime-sdk-identity", config=NO_RETRY)


@pytest.fixture(scope="module")
def messaging(server: RunningServer) -> Any:
    return server.client("chime-sdk-messaging", config=NO_RETRY)


@pytest.fixture
def app(identity: Any, messaging: Any) -> App:
    return make_app(identity, messaging)


def lex(alias: str = ECHO, **kwargs: Any) -> dict[str, Any]:
    return lex_configuration(alias, **kwargs)


def make_bot(app: App, name: str = "Echo", **kwargs: Any) -> str:
    arn: str = app.identity.create_app_instance_bot(
        AppInstanceArn=app.arn,
        Name=name,
        Configuration=lex(**kwargs),
        ClientRequestToken=uuid.uuid4().hex,
    )["AppInstanceBotArn"]
    return arn


def from_bot(app: App, channel: str, bot: str, count: int, viewer: str | None = None) -> list[Any]:
    """The bot's messages in the channel, oldest first, once there are ``count`` of them."""
    deadline = time.monotonic() + 15
    while True:
        listed = app.messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=viewer or app.alice, SortOrder="ASCENDING"
        )["ChannelMessages"]
        found = [m for m in listed if m["Sender"]["Arn"] == bot]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} of {count} bot messages: {listed}"
        time.sleep(0.05)


def texts(hook: Hook, bot: str, channel: str) -> list[str]:
    return [
        b.get("text", "<welcome>")
        for b in hook.bodies
        if b["appInstanceBotArn"] == bot and b["requestAttributes"]["CHIME.channel.arn"] == channel
    ]


# --- the API ------------------------------------------------------------------------------------


def test_bot_life_cycle(app: App) -> None:
    i = app.identity
    token = uuid.uuid4().hex
    given = {
        "AppInstanceArn": app.arn,
        "Name": "Echo",
        "Metadata": "m",
        "Configuration": lex(welcome="Welcome"),
        "Tags": [{"Key": "team", "Value": "bots"}],
        "ClientRequestToken": token,
    }
    arn = i.create_app_instance_bot(**given)["AppInstanceBotArn"]
    assert arn.startswith(app.arn + "/bot/")
    # The same token and parameters: the same bot; other parameters: a Conflict.
    assert i.create_app_instance_bot(**given)["AppInstanceBotArn"] == arn
    with raises(i, "ConflictException", "ClientRequestToken"):
        i.create_app_instance_bot(**{**given, "Name": "Other"})
    described = i.describe_app_instance_bot(AppInstanceBotArn=arn)["AppInstanceBot"]
    assert (described["Name"], described["Metadata"], described["Configuration"]) == (
        "Echo",
        "m",
        lex(welcome="Welcome"),
    )
    assert described["CreatedTimestamp"] == described["LastUpdatedTimestamp"]
    assert i.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "bots"}]
    assert i.list_app_instance_bots(AppInstanceArn=app.arn)["AppInstanceBots"] == [
        {"AppInstanceBotArn": arn, "Name": "Echo", "Metadata": "m"}
    ]
    # A bot is no AppInstanceUser.
    listed = i.list_app_instance_users(AppInstanceArn=app.arn)["AppInstanceUsers"]
    assert arn not in [u["AppInstanceUserArn"] for u in listed]
    with raises(i, "NotFoundException"):
        i.describe_app_instance_user(AppInstanceUserArn=arn)

    # Update without Configuration keeps it; with one replaces it.
    i.update_app_instance_bot(AppInstanceBotArn=arn, Name="Echo 2", Metadata="n")
    described = i.describe_app_instance_bot(AppInstanceBotArn=arn)["AppInstanceBot"]
    assert (described["Name"], described["Configuration"]) == ("Echo 2", lex(welcome="Welcome"))
    i.update_app_instance_bot(
        AppInstanceBotArn=arn, Name="Echo 3", Metadata="n", Configuration=lex(standard="MENTIONS")
    )
    described = i.describe_app_instance_bot(AppInstanceBotArn=arn)["AppInstanceBot"]
    assert described["Configuration"] == lex(standard="MENTIONS")
    assert described["LastUpdatedTimestamp"] > described["CreatedTimestamp"]

    i.delete_app_instance_bot(AppInstanceBotArn=arn)
    with raises(i, "NotFoundException", "does not exist"):
        i.describe_app_instance_bot(AppInstanceBotArn=arn)
    assert i.list_app_instance_bots(AppInstanceArn=app.arn)["AppInstanceBots"] == []


def test_an_unmapped_bot_alias_is_refused_with_how_to_map_it(app: App) -> None:
    with raises(app.identity, "BadRequestException", f"--resource {UNMAPPED}=URL"):
        make_bot(app, alias=UNMAPPED)
    bot = make_bot(app)
    with raises(app.identity, "BadRequestException", "not mapped"):
        app.identity.update_app_instance_bot(
            AppInstanceBotArn=bot, Name="x", Metadata="y", Configuration=lex(alias=UNMAPPED)
        )
    assert app.identity.list_app_instance_bots(AppInstanceArn=app.arn)["AppInstanceBots"] == [
        {"AppInstanceBotArn": bot, "Name": "Echo"}
    ]


@pytest.mark.parametrize(
    ("configuration", "match"),
    [
        ({"Lex": {"LexBotAliasArn": "arn:aws:lex:bad", "LocaleId": "en_US"}}, "LexBotAliasArn"),
        ({"Lex": {"LexBotAliasArn": ECHO}}, "LocaleId"),
        (
            {
                "Lex": {
                    **lex()["Lex"],
                    "InvokedBy": {"StandardMessages": "SOMETIMES", "TargetedMessages": "ALL"},
                }
            },
            "StandardMessages",
        ),
        ({"Lex": {**lex()["Lex"], "WelcomeIntent": "Not a name!"}}, "WelcomeIntent"),
    ],
)
def test_the_model_validates_the_configuration(
    server: RunningServer, app: App, configuration: dict[str, Any], match: str
) -> None:
    raw = server.client(
        "chime-sdk-identity",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    with raises(raw, "BadRequestException", match):
        raw.create_app_instance_bot(
            AppInstanceArn=app.arn, Configuration=configuration, ClientRequestToken="t"
        )


# --- a bot in channels --------------------------------------------------------------------------


def test_a_bot_is_a_member_a_bearer_and_a_sender(app: App) -> None:
    bot = make_bot(app, standard="NONE")
    channel = app.channel(app.alice)
    app.add(channel, bot)
    member = app.messaging.describe_channel_membership(
        ChannelArn=channel, MemberArn=bot, ChimeBearer=app.alice
    )["ChannelMembership"]["Member"]
    assert member == {"Arn": bot, "Name": "Echo"}
    sent = app.send(channel, bot, "I speak for myself")
    got = app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=sent, ChimeBearer=app.alice
    )["ChannelMessage"]
    assert got["Sender"] == {"Arn": bot, "Name": "Echo"}
    channels = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=bot, ChimeBearer=bot
    )["ChannelMemberships"]
    assert [c["ChannelSummary"]["ChannelArn"] for c in channels] == [channel]
    # Deleting the bot removes it from its channels.
    app.identity.delete_app_instance_bot(AppInstanceBotArn=bot)
    listed = app.messaging.list_channel_memberships(ChannelArn=channel, ChimeBearer=app.alice)
    assert bot not in [m["Member"]["Arn"] for m in listed["ChannelMemberships"]]


def test_a_bot_takes_the_roles_it_is_given(app: App) -> None:
    """As an AppInstanceAdmin or a channel moderator, a bot bearer has their rights; as a
    plain member it has a member's."""
    bot = make_bot(app, standard="NONE")
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, bot)
    said = app.send(channel, app.bob, "mine")
    with raises(app.messaging, "ForbiddenException"):
        app.messaging.redact_channel_message(ChannelArn=channel, MessageId=said, ChimeBearer=bot)
    app.messaging.create_channel_moderator(
        ChannelArn=channel, ChannelModeratorArn=bot, ChimeBearer=app.alice
    )
    app.messaging.redact_channel_message(ChannelArn=channel, MessageId=said, ChimeBearer=bot)
    with raises(app.messaging, "ForbiddenException", "admins"):
        app.messaging.delete_channel_message(ChannelArn=channel, MessageId=said, ChimeBearer=bot)
    app.identity.create_app_instance_admin(AppInstanceArn=app.arn, AppInstanceAdminArn=bot)
    app.messaging.delete_channel_message(ChannelArn=channel, MessageId=said, ChimeBearer=bot)
    with raises(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(ChannelArn=channel, MessageId=said, ChimeBearer=app.bob)


def test_the_bot_answers_with_lex_messages_as_the_bot(app: App, hooks: dict[str, Hook]) -> None:
    bot = make_bot(app)
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, bot)
    trigger = app.send(channel, app.bob, "show me a card")
    [answer] = from_bot(app, channel, bot, 1)
    full = app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=answer["MessageId"], ChimeBearer=app.alice
    )["ChannelMessage"]
    assert full["Type"] == "STANDARD"
    assert full["ContentType"] == "application/amz-chime-lex-msgs"
    assert json.loads(full["Content"]) == {
        "Messages": [
            {"Content": "echo: show me a card", "ContentType": "PlainText"},
            {
                "ContentType": "ImageResponseCard",
                "ImageResponseCard": {
                    "Title": "Account",
                    "Subtitle": "What next?",
                    "Buttons": [{"Text": "Check balance", "Value": "balance"}],
                },
            },
        ]
    }
    [request] = [b for b in hooks[ECHO].bodies if b["appInstanceBotArn"] == bot]
    assert request["operation"] == "RecognizeText"
    assert (request["botId"], request["botAliasId"], request["localeId"]) == (
        "ECHOBOT001",
        "ALIAS00001",
        "en_US",
    )
    assert request["requestAttributes"] == {
        "CHIME.channel.arn": channel,
        "CHIME.sender.arn": app.bob,
    }
    attributes = full["MessageAttributes"]
    assert attributes["CHIME.LEX.sessionState.intent.name"] == {"StringValues": ["Echo"]}
    assert attributes["CHIME.LEX.sessionState.intent.state"] == {"StringValues": ["Fulfilled"]}
    assert attributes["CHIME.LEX.sessionState.originatingRequestId"] == {"StringValues": [trigger]}
    assert attributes["CHIME.LEX.sessionState.sessionId"] == {
        "StringValues": [request["sessionId"]]
    }
    # One Lex session per (channel, sender): the same sender gets the same session.
    app.send(channel, app.bob, "again")
    from_bot(app, channel, bot, 2)
    again = [b for b in hooks[ECHO].bodies if b["appInstanceBotArn"] == bot][1]
    assert again["sessionId"] == request["sessionId"]


def test_standard_messages_mentions(app: App, hooks: dict[str, Hook]) -> None:
    bot = make_bot(app, standard="MENTIONS")
    channel = app.channel(app.alice)
    app.add(channel, bot)
    app.send(channel, app.alice, "not for you")
    app.send(channel, app.alice, "control", Type="CONTROL")
    app.send(
        channel,
        app.alice,
        "mentioning someone else",
        MessageAttributes={"CHIME.mentions": {"StringValues": [app.bob]}},
    )
    app.send(
        channel,
        app.alice,
        "hey bot",
        MessageAttributes={"CHIME.mentions": {"StringValues": [app.bob, bot]}},
    )
    [answer] = from_bot(app, channel, bot, 1)
    assert json.loads(answer["Content"])["Messages"][0]["Content"] == "echo: hey bot"
    assert texts(hooks[ECHO], bot, channel) == ["hey bot"]
    request = next(b for b in hooks[ECHO].bodies if b["appInstanceBotArn"] == bot)
    assert request["requestAttributes"]["CHIME.mentions"] == f"{app.bob},{bot}"


def test_standard_messages_auto_follows_the_number_of_members(
    app: App, hooks: dict[str, Hook]
) -> None:
    bot = make_bot(app, standard="AUTO")
    one_to_one = app.channel(app.alice)
    app.add(one_to_one, bot)
    app.add(one_to_one, app.admin, type_="HIDDEN")  # hidden members do not count
    app.send(one_to_one, app.alice, "just us")
    from_bot(app, one_to_one, bot, 1)
    group = app.channel(app.alice)
    app.add(group, app.bob)
    app.add(group, bot)
    app.send(group, app.alice, "chatting")
    app.send(
        group,
        app.alice,
        "bot?",
        MessageAttributes={"CHIME.mentions": {"StringValues": [bot]}},
    )
    from_bot(app, group, bot, 1)
    assert texts(hooks[ECHO], bot, group) == ["bot?"]
    assert texts(hooks[ECHO], bot, one_to_one) == ["just us"]


def test_standard_none_and_targeted_messages(app: App, hooks: dict[str, Hook]) -> None:
    bot = make_bot(app, standard="NONE", targeted="ALL")
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, bot)
    app.send(channel, app.alice, "to everyone")
    app.send(channel, app.alice, "to bob", Target=[{"MemberArn": app.bob}])
    app.send(channel, app.alice, "to the bot", Target=[{"MemberArn": bot}])
    [answer] = from_bot(app, channel, bot, 1)
    assert texts(hooks[ECHO], bot, channel) == ["to the bot"]
    # The answer to a targeted message is targeted back at its sender: bob does not see it.
    full = app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=answer["MessageId"], ChimeBearer=app.alice
    )["ChannelMessage"]
    assert full["Target"] == [{"MemberArn": app.alice}]
    with raises(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=answer["MessageId"], ChimeBearer=app.bob
        )


def test_bots_do_not_invoke_bots(app: App, hooks: dict[str, Hook]) -> None:
    listener = make_bot(app, name="Listener")
    talker = make_bot(app, name="Talker", standard="NONE")
    channel = app.channel(app.alice)
    app.add(channel, listener)
    app.add(channel, talker)
    app.send(channel, talker, "a bot speaks")
    app.send(channel, app.alice, "a person speaks")
    from_bot(app, channel, listener, 1)
    assert texts(hooks[ECHO], listener, channel) == ["a person speaks"]


def test_a_bot_without_invoked_by_and_responds_to_answers_nothing(
    app: App, hooks: dict[str, Hook]
) -> None:
    quiet = make_bot(app, name="Quiet", standard=None)
    legacy = app.identity.create_app_instance_bot(
        AppInstanceArn=app.arn,
        Name="Legacy",
        Configuration={"Lex": {**lex(standard=None)["Lex"], "RespondsTo": "STANDARD_MESSAGES"}},
        ClientRequestToken=uuid.uuid4().hex,
    )["AppInstanceBotArn"]
    channel = app.channel(app.alice)
    app.add(channel, quiet)
    app.add(channel, legacy)
    app.send(channel, app.alice, "anyone?")
    from_bot(app, channel, legacy, 1)
    assert texts(hooks[ECHO], quiet, channel) == []


async def test_the_welcome_intent_greets_on_joining(
    app: App, server: RunningServer, hooks: dict[str, Hook], watch: Any
) -> None:
    bot = make_bot(app, standard="NONE", welcome="Welcome")
    channel = app.channel(app.alice)
    alice = watch(session_for(server, app.alice))
    await alice.next(Established)
    await asyncio.to_thread(app.add, channel, bot)
    greeting = await alice.event(EventType.CREATE_CHANNEL_MESSAGE)
    assert greeting.payload["Sender"] == {"Arn": bot, "Name": "Echo"}
    assert greeting.payload["ContentType"] == "application/amz-chime-lex-msgs"
    assert json.loads(greeting.payload["Content"])["Messages"][0]["Content"] == "Hi, I echo"
    [request] = [b for b in hooks[ECHO].bodies if b["appInstanceBotArn"] == bot]
    assert request["operation"] == "PutSession"
    assert request["sessionState"]["intent"]["name"] == "Welcome"
    assert "text" not in request
    # Joining with the channel (MemberArns) welcomes too; a bot without WelcomeIntent is silent.
    other = await asyncio.to_thread(app.channel, app.alice, MemberArns=[bot])
    await asyncio.to_thread(from_bot, app, other, bot, 1)


async def test_failures_are_control_messages_with_the_lex_error_type(
    app: App, server: RunningServer, watch: Any
) -> None:
    echo = make_bot(app, name="Echo")
    dead = make_bot(app, name="Dead", alias=DEAD)
    channel = app.channel(app.alice)
    app.add(channel, echo)
    app.add(channel, dead)
    alice = watch(session_for(server, app.alice))
    await alice.next(Established)
    await asyncio.to_thread(app.send, channel, app.alice, "explode")
    codes: dict[str, str] = {}
    while len(codes) < 2:
        event = await alice.event(EventType.CREATE_CHANNEL_MESSAGE)
        if event.payload["Sender"]["Arn"] in (echo, dead):
            assert event.payload["Type"] == "CONTROL"
            assert event.payload["ContentType"] == "application/amz-chime-lex-error"
            codes[event.payload["Sender"]["Arn"]] = json.loads(event.payload["Content"])["Code"]
    assert codes == {echo: "DependencyFailedException", dead: "DependencyFailedException"}
    # Too long for Lex: refused without calling the bot.
    await asyncio.to_thread(app.send, channel, app.alice, "x" * 1025)
    event = await alice.event(EventType.CREATE_CHANNEL_MESSAGE)
    while event.payload["Sender"]["Arn"] != echo:
        event = await alice.event(EventType.CREATE_CHANNEL_MESSAGE)
    assert json.loads(event.payload["Content"]) == {"Code": "ValidationException"}
    # Three failures at least: this test's own (other tests of the module may add more).
    assert await asyncio.to_thread(_metric, server.url, "bellwire_bot_failures_total") >= 3


async def test_a_slow_bot_blocks_nothing(
    app: App, server: RunningServer, hooks: dict[str, Hook], watch: Any
) -> None:
    slow = make_bot(app, name="Slow", alias=SLOW)
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.add(channel, slow)
    bob = watch(session_for(server, app.bob))
    await bob.next(Established)
    hooks[SLOW].hold()
    try:
        first = await asyncio.to_thread(app.send, channel, app.alice, "one")
        second = await asyncio.to_thread(app.send, channel, app.alice, "two")
        # Both were answered and delivered while the bot still holds its answers.
        for expected in (first, second):
            event = await bob.event(EventType.CREATE_CHANNEL_MESSAGE)
            assert event.payload["MessageId"] == expected
        assert all(m["Sender"]["Arn"] == app.alice for m in from_bot(app, channel, app.alice, 2))
    finally:
        hooks[SLOW].release()
    answers = from_bot(app, channel, slow, 2)
    assert sorted(json.loads(a["Content"])["Messages"][0]["Content"] for a in answers) == [
        "echo: one",
        "echo: two",
    ]


def _metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def session_for(running: RunningServer, user_arn: str) -> MessagingSession:
    boto_session = botocore.session.Session()
    boto_session.set_credentials(running.access_key_id, running.secret_access_key)
    return MessagingSession(
        user_arn,
        boto_session=boto_session,
        region=running.region,
        endpoint_url=running.url,
        policy=FAST,
    )


def test_bots_and_pushes_see_a_flow_message_as_the_flow_lets_it_through(
    tmp_path_factory: pytest.TempPathFactory, hooks: dict[str, Hook]
) -> None:
    """With the word filter that ``bellwire serve`` ships as the channel's processor: a masked
    message reaches the bot and the push gateway masked, a denied one reaches neither."""
    port = free_port()
    word_filter = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:word-filter"
    pinpoint = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/flows"
    gateway = Hook().start()
    running = start_server(
        tmp_path_factory.mktemp("bots-flows"),
        port=port,
        resources={
            word_filter: f"http://127.0.0.1:{port}/processors/word-filter",
            ECHO: hooks[ECHO].url,
            pinpoint: gateway.url,
        },
        webhook_secret=SECRET,
        word_filter_deny="scam",
        word_filter_mask="darn",
    )
    try:
        app = make_app(
            running.client("chime-sdk-identity", config=NO_RETRY),
            running.client("chime-sdk-messaging", config=NO_RETRY),
        )
        bot = make_bot(app)
        channel = app.channel(app.alice)
        app.add(channel, app.bob)
        app.add(channel, bot)
        app.identity.register_app_instance_user_endpoint(
            AppInstanceUserArn=app.bob,
            Type="GCM",
            ResourceArn=pinpoint,
            EndpointAttributes={"DeviceToken": "bob-phone"},
            ClientRequestToken=uuid.uuid4().hex,
        )
        flow = app.messaging.create_channel_flow(
            AppInstanceArn=app.arn,
            Name="filter",
            ClientRequestToken=uuid.uuid4().hex,
            Processors=[
                {
                    "Name": "words",
                    "Configuration": {
                        "Lambda": {"ResourceArn": word_filter, "InvocationType": "ASYNC"}
                    },
                    "ExecutionOrder": 1,
                    "FallbackAction": "ABORT",
                }
            ],
        )["ChannelFlowArn"]
        app.messaging.associate_channel_flow(
            ChannelArn=channel, ChannelFlowArn=flow, ChimeBearer=app.alice
        )
        push = {"Title": "t", "Body": "b"}
        app.send(channel, app.alice, "a scam", PushNotification=push)
        app.send(channel, app.alice, "darn good", PushNotification=push)
        [answer] = from_bot(app, channel, bot, 1)
        assert json.loads(answer["Content"])["Messages"][0]["Content"] == "echo: **** good"
        assert texts(hooks[ECHO], bot, channel) == ["**** good"]
        [batch] = gateway.arrived(1)
        masked = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=batch["Message"]["MessageId"], ChimeBearer=app.bob
        )["ChannelMessage"]
        assert masked["Content"] == "**** good"
        assert len(gateway.bodies) == 1
    finally:
        running.stop()
        gateway.stop()
