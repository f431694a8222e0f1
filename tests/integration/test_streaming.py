"""Streaming export over the wire: boto3 against a real server, the records read back from a
real Redis stream, a real NATS JetStream stream and a webhook; a sink down then up, and a server
killed with records undelivered, lose nothing and keep each channel's order."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NO_VALIDATION, raises
from server_process import Process, free_port, start
from sinks_helpers import (
    REDIS,
    NatsStream,
    RedisStream,
    TcpProxy,
    Webhook,
    decoded,
    stream_arn,
    wait_for,
)

from bellwire.testing import RunningServer
from bellwire.webhook import verify


@pytest.fixture
def redis_stream() -> Iterator[RedisStream]:
    stream = RedisStream()
    yield stream
    stream.delete()


@pytest.fixture
def nats_stream() -> Iterator[NatsStream]:
    stream = NatsStream()
    yield stream
    stream.delete()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def configure(client: Any, app: str, **streams: str) -> Any:
    return client.put_messaging_streaming_configurations(
        AppInstanceArn=app,
        StreamingConfigurations=[{"DataType": d, "ResourceArn": a} for d, a in streams.items()],
    )


def app_with_users(running: RunningServer, *names: str) -> tuple[Any, Any, str, list[str]]:
    identity = running.client("chime-sdk-identity", config=NO_VALIDATION)
    messaging = running.client("chime-sdk-messaging", config=NO_VALIDATION)
    app = identity.create_app_instance(Name="streams")["AppInstanceArn"]
    users = [
        identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=n, Name=n.capitalize()
        )["AppInstanceUserArn"]
        for n in names
    ]
    return identity, messaging, app, users


def test_configurations_are_validated_put_got_and_deleted(
    bellwire_server_factory: Callable[..., RunningServer],
) -> None:
    mapped = stream_arn()
    running = bellwire_server_factory(resources={mapped: "http://127.0.0.1:9/unused"})
    _, messaging, app, _ = app_with_users(running)
    with raises(messaging, "NotFoundException", "no streaming configurations"):
        messaging.get_messaging_streaming_configurations(AppInstanceArn=app)
    unmapped = stream_arn()
    with raises(messaging, "BadRequestException", f"--resource {unmapped}=URL"):
        configure(messaging, app, Channel=unmapped)
    with raises(messaging, "BadRequestException", "not the ARN of a Kinesis data stream"):
        configure(messaging, app, Channel="arn:aws:sqs:us-east-1:123456789012:queue")
    with raises(messaging, "BadRequestException", "must start with 'chime-messaging-'"):
        configure(messaging, app, Channel="arn:aws:kinesis:us-east-1:123456789012:stream/x")
    with raises(messaging, "BadRequestException", "DataType"):
        messaging.put_messaging_streaming_configurations(
            AppInstanceArn=app,
            StreamingConfigurations=[{"DataType": "Channel", "ResourceArn": mapped}] * 2,
        )
    with raises(messaging, "BadRequestException"):
        configure(messaging, app, Nonsense=mapped)  # not a MessagingDataType
    answer = configure(messaging, app, Channel=mapped, ChannelMessage=mapped)
    expected = [
        {"DataType": "Channel", "ResourceArn": mapped},
        {"DataType": "ChannelMessage", "ResourceArn": mapped},
    ]
    assert answer["StreamingConfigurations"] == expected
    got = messaging.get_messaging_streaming_configurations(AppInstanceArn=app)
    assert got["StreamingConfigurations"] == expected
    deleted = messaging.delete_messaging_streaming_configurations(AppInstanceArn=app)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with raises(messaging, "NotFoundException"):
        messaging.get_messaging_streaming_configurations(AppInstanceArn=app)


def test_a_redis_stream_receives_each_data_types_records_in_order(
    bellwire_server_factory: Callable[..., RunningServer], redis_stream: RedisStream
) -> None:
    messages_arn, channels_arn = stream_arn(), stream_arn()
    running = bellwire_server_factory(
        resources={messages_arn: redis_stream.url, channels_arn: redis_stream.url}
    )
    identity, messaging, app, (alice, bob, carol) = app_with_users(running, "alice", "bob", "carol")
    identity.create_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=alice)
    before = messaging.create_channel(AppInstanceArn=app, Name="before", ChimeBearer=alice)
    messaging.send_channel_message(
        ChannelArn=before["ChannelArn"],
        Content="unstreamed",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=alice,
    )
    configure(messaging, app, ChannelMessage=messages_arn, Channel=channels_arn)

    channel = messaging.create_channel(AppInstanceArn=app, Name="c", ChimeBearer=alice)[
        "ChannelArn"
    ]
    messaging.update_channel(ChannelArn=channel, Name="c2", Mode="UNRESTRICTED", ChimeBearer=alice)
    messaging.batch_create_channel_membership(
        ChannelArn=channel, MemberArns=[bob, carol], ChimeBearer=alice
    )
    message_id = messaging.send_channel_message(
        ChannelArn=channel,
        Content="one",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=bob,
    )["MessageId"]
    messaging.update_channel_message(
        ChannelArn=channel, MessageId=message_id, Content="one!", ChimeBearer=bob
    )
    messaging.redact_channel_message(ChannelArn=channel, MessageId=message_id, ChimeBearer=bob)
    messaging.delete_channel_message(ChannelArn=channel, MessageId=message_id, ChimeBearer=alice)
    messaging.create_channel_moderator(
        ChannelArn=channel, ChannelModeratorArn=bob, ChimeBearer=alice
    )
    messaging.delete_channel_moderator(
        ChannelArn=channel, ChannelModeratorArn=bob, ChimeBearer=alice
    )
    messaging.create_channel_ban(ChannelArn=channel, MemberArn=carol, ChimeBearer=alice)
    messaging.delete_channel_ban(ChannelArn=channel, MemberArn=carol, ChimeBearer=alice)
    messaging.put_channel_expiration_settings(
        ChannelArn=channel,
        ChimeBearer=alice,
        ExpirationSettings={"ExpirationDays": 30, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )
    messaging.delete_channel_membership(ChannelArn=channel, MemberArn=bob, ChimeBearer=alice)
    messaging.delete_channel(ChannelArn=channel, ChimeBearer=alice)
    expected = [
        "CREATE_CHANNEL",
        "UPDATE_CHANNEL",
        "CREATE_CHANNEL_MEMBERSHIP",
        "CREATE_CHANNEL_MEMBERSHIP",
        "CREATE_CHANNEL_MESSAGE",
        "UPDATE_CHANNEL_MESSAGE",
        "REDACT_CHANNEL_MESSAGE",
        "DELETE_CHANNEL_MESSAGE",
        "CREATE_CHANNEL_MODERATOR",
        "DELETE_CHANNEL_MODERATOR",
        "DELETE_CHANNEL_MEMBERSHIP",  # the ban removes carol
        "CREATE_CHANNEL_BAN",
        "DELETE_CHANNEL_BAN",
        "UPDATE_CHANNEL_EXPIRATION_SETTINGS",
        "DELETE_CHANNEL_MEMBERSHIP",
        "DELETE_CHANNEL",
    ]
    wait_for(lambda: len(redis_stream.entries()) >= len(expected))
    entries = redis_stream.entries()
    records = [decoded(e["record"]) for e in entries]
    assert [kind for kind, _ in records] == expected
    ids = [int(e["id"]) for e in entries]
    assert ids == sorted(set(ids))  # unique and growing: what consumers de-duplicate by
    assert {e["partition_key"] for e in entries} == {channel}
    payloads = dict(zip(expected, (p for _, p in records), strict=False))
    assert payloads["CREATE_CHANNEL"]["ChannelArn"] == channel
    assert payloads["CREATE_CHANNEL"]["Name"] == "c"
    created = records[4][1]
    assert (created["MessageId"], created["Content"], created["Sender"]["Arn"]) == (
        message_id,
        "one",
        bob,
    )
    assert created["CreatedTimestamp"].endswith("Z")  # the WebSocket timestamp convention
    assert records[5][1]["Content"] == "one!" and records[6][1]["Redacted"] is True
    assert [p["Member"]["Arn"] for _, p in records[2:4]] == [bob, carol]
    assert records[8][1]["Moderator"]["Arn"] == bob
    assert records[11][1]["Member"]["Arn"] == carol
    assert records[13][1]["ExpirationSettings"] == {
        "ExpirationDays": 30,
        "ExpirationCriterion": "CREATED_TIMESTAMP",
    }
    assert "unstreamed" not in str(records)


def test_a_nats_jetstream_stream_is_created_and_receives_the_records(
    bellwire_server_factory: Callable[..., RunningServer], nats_stream: NatsStream
) -> None:
    arn = stream_arn()
    running = bellwire_server_factory(resources={arn: nats_stream.url})
    _, messaging, app, (alice,) = app_with_users(running, "alice")
    assert not nats_stream.exists()
    configure(messaging, app, ChannelMessage=arn)
    channel = messaging.create_channel(AppInstanceArn=app, Name="c", ChimeBearer=alice)[
        "ChannelArn"
    ]  # a Channel record: not configured, not streamed
    sent = [
        messaging.send_channel_message(
            ChannelArn=channel,
            Content=f"m{i}",
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=alice,
        )["MessageId"]
        for i in range(5)
    ]
    wait_for(lambda: len(nats_stream.messages()) >= 5)
    found = nats_stream.messages()
    assert [decoded(body)[0] for _, body in found] == ["CREATE_CHANNEL_MESSAGE"] * 5
    assert [decoded(body)[1]["MessageId"] for _, body in found] == sent
    ids = [int(headers["Nats-Msg-Id"]) for headers, _ in found]
    assert ids == sorted(set(ids))
    assert {headers["Bellwire-Partition-Key"] for headers, _ in found} == {channel}


def test_a_webhook_down_then_up_gets_everything_in_channel_order(
    bellwire_server_factory: Callable[..., RunningServer], webhook: Webhook
) -> None:
    arn = stream_arn()
    running = bellwire_server_factory(resources={arn: webhook.url}, export_retry_max_seconds=0.5)
    _, messaging, app, (alice,) = app_with_users(running, "alice")
    configure(messaging, app, ChannelMessage=arn)
    channels = [
        messaging.create_channel(AppInstanceArn=app, Name=f"c{i}", ChimeBearer=alice)["ChannelArn"]
        for i in range(2)
    ]
    webhook.up = False
    for i in range(12):
        messaging.send_channel_message(
            ChannelArn=channels[i % 2],
            Content=f"m{i}",
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=alice,
        )
    relay = running.server.relay
    wait_for(lambda: relay.failures >= 1, what="a batch given up on (retried later)")
    assert webhook.refused >= 3  # the webhook caller's own attempts came first
    assert webhook.received == []
    webhook.up = True
    wait_for(lambda: len(webhook.records()) >= 12)
    records = webhook.records()
    # Signed by the server's one webhook caller: the endpoint can check where records come from.
    secret = (running.data_dir / "webhook-secret").read_text().strip().encode()
    headers, body = webhook.received[0]
    verify(secret, body, headers, time.time())
    for n, channel in enumerate(channels):
        contents = [p["Content"] for _, key, (_, p) in records if key == channel]
        assert contents == [f"m{i}" for i in range(n, 12, 2)]
    metrics = running.client("sts")  # any client: /metrics is plain HTTP
    del metrics
    import urllib.request

    with urllib.request.urlopen(running.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    failures = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("bellwire_export_failures_total")
    ]
    assert failures and failures[0] >= 1


def test_records_undelivered_at_a_kill_9_are_delivered_after_the_restart(
    tmp_path: Path, processes: list[Process], webhook: Webhook
) -> None:
    arn = stream_arn()
    port = free_port()
    flags = ("--resource", f"{arn}={webhook.url}", "--export-retry-max-seconds", "0.5")
    first = start(tmp_path / "data", port, *flags)
    processes.append(first)
    messaging = first.client("chime-sdk-messaging")
    identity = first.client("chime-sdk-identity")
    app = identity.create_app_instance(Name="restart")["AppInstanceArn"]
    alice = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="alice", Name="Alice"
    )["AppInstanceUserArn"]
    configure(messaging, app, ChannelMessage=arn, Channel=arn)
    webhook.up = False
    channel = messaging.create_channel(AppInstanceArn=app, Name="c", ChimeBearer=alice)[
        "ChannelArn"
    ]
    for i in range(10):
        messaging.send_channel_message(
            ChannelArn=channel,
            Content=f"m{i}",
            Type="STANDARD",
            Persistence="PERSISTENT",
            ChimeBearer=alice,
            ClientRequestToken=uuid.uuid4().hex,
        )
    first.proc.send_signal(signal.SIGKILL)
    assert first.proc.wait(10) == -signal.SIGKILL
    assert webhook.received == []
    webhook.up = True
    second = start(tmp_path / "data", port, *flags)
    processes.append(second)
    wait_for(lambda: len(webhook.records()) >= 11)
    records = webhook.records()
    assert [kind for _, _, (kind, _) in records] == ["CREATE_CHANNEL"] + [
        "CREATE_CHANNEL_MESSAGE"
    ] * 10
    assert [p["Content"] for _, _, (_, p) in records[1:]] == [f"m{i}" for i in range(10)]


def test_a_redis_outage_delays_records_and_loses_none(
    bellwire_server_factory: Callable[..., RunningServer], redis_stream: RedisStream
) -> None:
    proxy = TcpProxy(REDIS)
    try:
        arn = stream_arn()
        url = f"redis://127.0.0.1:{proxy.port}/0?stream={redis_stream.key}"
        running = bellwire_server_factory(resources={arn: url}, export_retry_max_seconds=0.5)
        _, messaging, app, (alice,) = app_with_users(running, "alice")
        configure(messaging, app, ChannelMessage=arn)
        channels = [
            messaging.create_channel(AppInstanceArn=app, Name=f"c{i}", ChimeBearer=alice)[
                "ChannelArn"
            ]
            for i in range(2)
        ]

        def send(i: int) -> None:
            messaging.send_channel_message(
                ChannelArn=channels[i % 2],
                Content=f"m{i}",
                Type="STANDARD",
                Persistence="PERSISTENT",
                ChimeBearer=alice,
            )

        for i in range(4):
            send(i)
        wait_for(lambda: len(redis_stream.entries()) >= 4)
        proxy.down()
        for i in range(4, 12):
            send(i)  # acknowledged while the sink is down
        relay = running.server.relay
        wait_for(lambda: relay.failures >= 1, what="a failed delivery")
        assert len(redis_stream.entries()) == 4
        proxy.up()
        wait_for(lambda: len({e["id"] for e in redis_stream.entries()}) >= 12)
        seen: set[str] = set()
        by_channel: dict[str, list[str]] = {c: [] for c in channels}
        for entry in redis_stream.entries():
            if entry["id"] in seen:  # a consumer drops repeats by id
                continue
            seen.add(entry["id"])
            by_channel[entry["partition_key"]].append(decoded(entry["record"])[1]["Content"])
        assert by_channel == {
            channels[0]: [f"m{i}" for i in range(0, 12, 2)],
            channels[1]: [f"m{i}" for i in range(1, 12, 2)],
        }
    finally:
        proxy.close()


def test_an_elastic_channel_streams_its_sub_channels_and_one_record_per_channel_event(
    bellwire_server_factory: Callable[..., RunningServer], redis_stream: RedisStream
) -> None:
    channels_arn = stream_arn()
    running = bellwire_server_factory(resources={channels_arn: redis_stream.url})
    identity, messaging, app, users = app_with_users(running, "mod", "u1", "u2", "u3")
    moderator, members = users[0], users[1:]
    identity.create_app_instance_admin(AppInstanceArn=app, AppInstanceAdminArn=moderator)
    configure(messaging, app, Channel=channels_arn)
    channel = messaging.create_channel(
        AppInstanceArn=app,
        Name="live",
        Mode="RESTRICTED",
        ChimeBearer=moderator,
        ElasticChannelConfiguration={
            "MaximumSubChannels": 3,
            "TargetMembershipsPerSubChannel": 2,
            "MinimumMembershipPercentage": 40,
        },
    )["ChannelArn"]
    for member in members:  # the third join finds every sub-channel full: SCALE_OUT
        messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type="DEFAULT", ChimeBearer=moderator
        )
    live = messaging.list_sub_channels(ChannelArn=channel, ChimeBearer=moderator)["SubChannels"]
    assert len(live) == 2
    alone = next(s["SubChannelId"] for s in live if s["MembershipCount"] == 1)
    lonely = next(
        m
        for m in members
        if messaging.describe_channel_membership(
            ChannelArn=channel, MemberArn=m, ChimeBearer=moderator
        )["ChannelMembership"]["SubChannelId"]
        == alone
    )
    # Its last member leaves: the sub-channel falls below the minimum and is merged away.
    messaging.delete_channel_membership(ChannelArn=channel, MemberArn=lonely, ChimeBearer=moderator)
    messaging.delete_channel(ChannelArn=channel, ChimeBearer=moderator)

    def kinds() -> list[str]:
        return [decoded(e["record"])[0] for e in redis_stream.entries()]

    wait_for(lambda: "DELETE_CHANNEL" in kinds())
    records = [decoded(e["record"]) for e in redis_stream.entries()]
    created = [p["SubChannelId"] for k, p in records if k == "CREATE_SUB_CHANNEL"]
    deleted = [p["SubChannelId"] for k, p in records if k == "DELETE_SUB_CHANNEL"]
    assert set(created) == {s["SubChannelId"] for s in live}  # the first one and SCALE_OUT's
    assert alone in deleted
    assert all(p["ChannelArn"] == channel for k, p in records if k.endswith("_SUB_CHANNEL"))
    # DELETE_CHANNEL reaches every sub-channel's sessions, but is one record on the stream.
    assert [k for k, _ in records].count("DELETE_CHANNEL") == 1
    assert [k for k, _ in records].count("CREATE_CHANNEL_MEMBERSHIP") == len(members)
