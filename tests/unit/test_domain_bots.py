"""Bots and pushes through the store's interface, without HTTP: who a send makes due, what a
bot's answer becomes, what deleting takes with it."""

from __future__ import annotations

from typing import Any

from test_domain import Domain, domain

from bellwire.domain import bots, channels, identity, lex, messages, push
from bellwire.domain.operation import Call
from bellwire.resources import ResourceMap

__all__ = ["domain"]  # the fixture used here

ALIAS = "arn:aws:lex:us-east-1:123456789012:bot-alias/ABCDE12345/FGHIJ67890"
PINPOINT = "arn:aws:mobiletargeting:us-east-1:123456789012:apps/abc"
MAPPED = ResourceMap({ALIAS: "http://127.0.0.1:1/bot", PINPOINT: "http://127.0.0.1:1/push"})


async def make_bot(d: Domain, app: str, standard: str, welcome: str | None = None) -> str:
    lex_config: dict[str, Any] = {
        "LexBotAliasArn": ALIAS,
        "LocaleId": "en_US",
        "InvokedBy": {"StandardMessages": standard, "TargetedMessages": "ALL"},
    }
    if welcome:
        lex_config["WelcomeIntent"] = welcome
    d.now += 1
    call = Call(region="us-east-1", account_id="123456789012", now=d.now, resources=MAPPED)
    params = {
        "AppInstanceArn": app,
        "Name": f"bot-{standard}",
        "Configuration": {"Lex": lex_config},
        "ClientRequestToken": standard,
    }
    result = await d.store.write(lambda tx: bots.create_bot(tx, call, params))  # type: ignore[arg-type]
    arn: str = result.output["AppInstanceBotArn"]
    return arn


async def test_a_send_names_the_bots_it_invokes_and_the_devices_it_pushes(domain: Domain) -> None:
    d = domain
    app = await d.app()
    alice, bob = await d.user(app, "alice"), await d.user(app, "bob")
    every, mentioned = await make_bot(d, app, "ALL"), await make_bot(d, app, "MENTIONS")
    channel = await d.channel(app, alice)
    for member in (bob, every, mentioned):
        await d.write(
            channels.create_membership,
            ChannelArn=channel,
            MemberArn=member,
            Type="DEFAULT",
            ChimeBearer=alice,
        )
    d.now += 1
    call = Call(region="us-east-1", account_id="123456789012", now=d.now, resources=MAPPED)
    registered = {
        "AppInstanceUserArn": bob,
        "Type": "GCM",
        "ResourceArn": PINPOINT,
        "EndpointAttributes": {"DeviceToken": "bob-phone"},
        "ClientRequestToken": "r",
    }
    await d.store.write(lambda tx: push.register_endpoint(tx, call, registered))  # type: ignore[arg-type]

    sent = await d.write(
        messages.send_message,
        ChannelArn=channel,
        ChimeBearer=alice,
        Content="hi",
        Type="STANDARD",
        Persistence="PERSISTENT",
        PushNotification={"Title": "t", "Body": "b"},
    )
    assert [c.bot_arn for c in sent.bot_calls] == [every]
    assert [(p.endpoint.user_arn, p.endpoint.attributes["DeviceToken"]) for p in sent.pushes] == [
        (bob, "bob-phone")
    ]

    # The answer is posted as the bot, persisted like its trigger.
    reply = lex.Reply("STANDARD", lex.LEX_MSGS, '{"Messages":[]}', {})
    posted = await d.store.write(
        lambda tx: bots.post_reply(tx, d.now + 1, sent.bot_calls[0], reply)
    )
    [event] = posted.events
    assert event.event.payload["Sender"] == {"Arn": every, "Name": "bot-ALL"}  # type: ignore[union-attr]
    # A bot that left posts nothing.
    await d.write(
        channels.delete_membership, ChannelArn=channel, MemberArn=every, ChimeBearer=alice
    )
    again = await d.store.write(lambda tx: bots.post_reply(tx, d.now + 2, sent.bot_calls[0], reply))
    assert again.events == []

    # A bot that sends invokes no bot; the welcome call needs a WelcomeIntent.
    by_bot = await d.write(
        messages.send_message,
        ChannelArn=channel,
        ChimeBearer=mentioned,
        Content="hi",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )
    assert by_bot.bot_calls == []
    assert await d.store.read(lambda tx: bots.welcome_call(tx, channel, mentioned)) is None


async def test_deleting_the_app_instance_takes_its_bots(domain: Domain) -> None:
    d = domain
    app = await d.app()
    bot = await make_bot(d, app, "ALL", welcome="Hello")
    assert await d.store.read(lambda tx: tx.bot(bot)) is not None
    await d.write(identity.delete_app_instance, AppInstanceArn=app)
    assert await d.store.read(lambda tx: (tx.bot(bot), tx.user(bot))) == (None, None)
