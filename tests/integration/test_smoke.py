from bellwire.testing import RunningServer


def test_boto3_round_trip(bellwire_server: RunningServer) -> None:
    identity = bellwire_server.client("chime-sdk-identity")
    messaging = bellwire_server.client("chime-sdk-messaging")
    app = identity.create_app_instance(Name="demo")["AppInstanceArn"]
    alice = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="alice", Name="Alice"
    )["AppInstanceUserArn"]
    channel = messaging.create_channel(AppInstanceArn=app, Name="general", ChimeBearer=alice)[
        "ChannelArn"
    ]
    sent = messaging.send_channel_message(
        ChannelArn=channel,
        Content="hi",
        Type="STANDARD",
        Persistence="PERSISTENT",
        ChimeBearer=alice,
    )
    listed = messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=alice)
    assert [m["MessageId"] for m in listed["ChannelMessages"]] == [sent["MessageId"]]
