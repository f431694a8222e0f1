"""The Chime role rules (spec §6) and limits (spec §5), one test per rule, through boto3.

Also one test per modeled error class the server produces: boto3 must raise the modeled
exception class, with the right HTTP status and ``x-amzn-ErrorType``.
"""

from __future__ import annotations

from typing import Any

import pytest


def members(app: Any, channel: str, bearer: str | None = None, **kwargs: Any) -> set[str]:
    page = app.messaging.list_channel_memberships(
        ChannelArn=channel, ChimeBearer=bearer or app.alice, **kwargs
    )
    return {m["Member"]["Arn"] for m in page["ChannelMemberships"]}


def history(app: Any, channel: str, bearer: str) -> list[str]:
    page = app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=bearer)
    return [m["MessageId"] for m in page["ChannelMessages"]]


# --- creation ---------------------------------------------------------------------------------------


def test_creator_becomes_member_and_moderator(app: Any) -> None:
    channel = app.channel(app.bob)
    assert members(app, channel, app.bob) == {app.bob}
    moderators = app.messaging.list_channel_moderators(ChannelArn=channel, ChimeBearer=app.bob)
    assert [m["Moderator"]["Arn"] for m in moderators["ChannelModerators"]] == [app.bob]
    membership = app.messaging.describe_channel_membership(
        ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.bob
    )["ChannelMembership"]
    assert membership["InvitedBy"]["Arn"] == app.bob
    assert membership["Type"] == "DEFAULT"


def test_member_and_moderator_arns_at_creation(app: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol], ModeratorArns=[app.dave])
    assert members(app, channel) == {app.alice, app.bob, app.carol}
    moderators = app.messaging.list_channel_moderators(ChannelArn=channel, ChimeBearer=app.alice)
    assert {m["Moderator"]["Arn"] for m in moderators["ChannelModerators"]} == {app.alice, app.dave}
    # The moderator named at creation can act as one.
    app.messaging.create_channel_ban(ChannelArn=channel, MemberArn=app.carol, ChimeBearer=app.dave)
    assert members(app, channel) == {app.alice, app.bob}


def test_create_channel_with_unknown_member_creates_nothing(
    app: Any, expect_error: Any, unchanged: Any
) -> None:
    with unchanged(), expect_error(app.messaging, "NotFoundException"):
        app.channel(app.alice, MemberArns=[app.bob, f"{app.arn}/user/ghost"])


# --- RESTRICTED / UNRESTRICTED ----------------------------------------------------------------------------


def test_unrestricted_channel_members_may_add_members(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Mode="UNRESTRICTED", MemberArns=[app.bob])
    app.add(channel, app.carol, by=app.bob)
    assert app.carol in members(app, channel)
    # A non-member may not add anyone, not even itself.
    with expect_error(app.messaging, "ForbiddenException"):
        app.add(channel, app.dave, by=app.dave)


def test_restricted_channel_only_moderators_add_members(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Mode="RESTRICTED", MemberArns=[app.bob])
    with expect_error(app.messaging, "ForbiddenException", "RESTRICTED"):
        app.add(channel, app.carol, by=app.bob)
    with expect_error(app.messaging, "ForbiddenException"):
        app.messaging.batch_create_channel_membership(
            ChannelArn=channel, MemberArns=[app.carol], ChimeBearer=app.bob
        )
    assert app.carol not in members(app, channel)
    app.add(channel, app.carol, by=app.alice)  # the moderator
    app.add(channel, app.dave, by=app.admin)  # an app instance admin, not even a member
    assert members(app, channel) == {app.alice, app.bob, app.carol, app.dave}


def test_member_cannot_remove_others_but_can_leave(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    with expect_error(app.messaging, "ForbiddenException"):
        app.messaging.delete_channel_membership(
            ChannelArn=channel, MemberArn=app.carol, ChimeBearer=app.bob
        )
    app.messaging.delete_channel_membership(
        ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.bob
    )
    assert members(app, channel) == {app.alice, app.carol}


def test_members_cannot_use_moderator_apis(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    calls = [
        ("create_channel_ban", {"MemberArn": app.carol}),
        ("list_channel_bans", {}),
        ("create_channel_moderator", {"ChannelModeratorArn": app.bob}),
        ("list_channel_moderators", {}),
        ("update_channel", {"Name": "mine now"}),
        ("delete_channel", {}),
    ]
    for method, kwargs in calls:
        with expect_error(app.messaging, "ForbiddenException", "moderator"):
            getattr(app.messaging, method)(ChannelArn=channel, ChimeBearer=app.bob, **kwargs)


# --- PUBLIC / PRIVATE ---------------------------------------------------------------------------------------


def test_non_members_read_public_channels(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Privacy="PUBLIC")
    message_id = app.send(channel, app.alice, "for everyone")
    described = app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=app.dave)
    assert described["Channel"]["Privacy"] == "PUBLIC"
    assert members(app, channel, app.dave) == {app.alice}
    assert history(app, channel, app.dave) == [message_id]
    got = app.messaging.get_channel_message(
        ChannelArn=channel, MessageId=message_id, ChimeBearer=app.dave
    )
    assert got["ChannelMessage"]["Content"] == "for everyone"
    # ... but reading is all they may do.
    with expect_error(app.messaging, "ForbiddenException", "member"):
        app.send(channel, app.dave, "let me in")


def test_non_members_cannot_read_private_channels(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Privacy="PRIVATE")
    message_id = app.send(channel, app.alice, "secret")
    reads = [
        ("describe_channel", {}),
        ("list_channel_memberships", {}),
        ("list_channel_messages", {}),
        ("get_channel_message", {"MessageId": message_id}),
        ("describe_channel_membership", {"MemberArn": app.alice}),
    ]
    for method, kwargs in reads:
        with expect_error(app.messaging, "ForbiddenException", "private"):
            getattr(app.messaging, method)(ChannelArn=channel, ChimeBearer=app.dave, **kwargs)
    # An admin reads every channel of its instance without being a member.
    assert history(app, channel, app.admin) == [message_id]


def test_list_channels_public_for_users_private_for_admins(app: Any, expect_error: Any) -> None:
    public = app.channel(app.alice, Privacy="PUBLIC")
    private = app.channel(app.alice, Privacy="PRIVATE")

    def listed(bearer: str, **kwargs: Any) -> set[str]:
        page = app.messaging.list_channels(AppInstanceArn=app.arn, ChimeBearer=bearer, **kwargs)
        return {c["ChannelArn"] for c in page["Channels"]}

    # Even its own creator does not see a PRIVATE channel in ListChannels.
    assert listed(app.alice) == {public}
    assert listed(app.bob, Privacy="PUBLIC") == {public}
    with expect_error(app.messaging, "ForbiddenException", "PRIVATE"):
        listed(app.bob, Privacy="PRIVATE")
    assert listed(app.admin, Privacy="PRIVATE") == {private}
    assert listed(app.admin, Privacy="PUBLIC") == {public}
    assert listed(app.admin) == {public, private}


# --- HIDDEN memberships -----------------------------------------------------------------------------------


def test_only_moderators_create_hidden_memberships(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Mode="UNRESTRICTED", MemberArns=[app.bob])
    with expect_error(app.messaging, "ForbiddenException", "HIDDEN"):
        app.add(channel, app.carol, by=app.bob, type_="HIDDEN")
    app.add(channel, app.carol, by=app.alice, type_="HIDDEN")
    app.add(channel, app.dave, by=app.admin, type_="HIDDEN")
    assert members(app, channel) == {app.alice, app.bob}
    assert members(app, channel, Type="HIDDEN") == {app.carol, app.dave}


def test_hidden_member_cannot_send(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    app.add(channel, app.carol, type_="HIDDEN")
    with expect_error(app.messaging, "ForbiddenException", "hidden"):
        app.send(channel, app.carol, "boo")
    # It observes: it reads the private channel it is a hidden member of.
    app.send(channel, app.alice, "hi")
    assert len(history(app, channel, app.carol)) == 1


# --- message moderation --------------------------------------------------------------------------------------


def test_only_admins_delete_messages(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob])
    message_id = app.send(channel, app.bob, "mine")
    for bearer in (app.bob, app.alice):  # the sender, then the channel's moderator
        with expect_error(app.messaging, "ForbiddenException", "admin"):
            app.messaging.delete_channel_message(
                ChannelArn=channel, MessageId=message_id, ChimeBearer=bearer
            )
    assert history(app, channel, app.alice) == [message_id]
    app.messaging.delete_channel_message(
        ChannelArn=channel, MessageId=message_id, ChimeBearer=app.admin
    )
    assert history(app, channel, app.alice) == []


def test_moderators_redact_any_message(app: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    app.messaging.create_channel_moderator(
        ChannelArn=channel, ChannelModeratorArn=app.carol, ChimeBearer=app.alice
    )
    first = app.send(channel, app.bob, "rude")
    second = app.send(channel, app.alice, "also rude")
    app.messaging.redact_channel_message(ChannelArn=channel, MessageId=first, ChimeBearer=app.carol)
    app.messaging.redact_channel_message(
        ChannelArn=channel, MessageId=second, ChimeBearer=app.admin
    )
    for message_id in (first, second):
        m = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=message_id, ChimeBearer=app.bob
        )["ChannelMessage"]
        assert m["Redacted"] is True
        assert "Content" not in m


def test_members_edit_and_redact_only_their_own(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    bobs = app.send(channel, app.bob, "bob's")
    with expect_error(app.messaging, "ForbiddenException", "sender"):
        app.messaging.update_channel_message(
            ChannelArn=channel, MessageId=bobs, Content="carol's now", ChimeBearer=app.carol
        )
    with expect_error(app.messaging, "ForbiddenException"):
        app.messaging.redact_channel_message(
            ChannelArn=channel, MessageId=bobs, ChimeBearer=app.carol
        )
    # Not even a moderator edits someone else's message.
    with expect_error(app.messaging, "ForbiddenException", "sender"):
        app.messaging.update_channel_message(
            ChannelArn=channel, MessageId=bobs, Content="alice's now", ChimeBearer=app.alice
        )
    m = app.messaging.get_channel_message(ChannelArn=channel, MessageId=bobs, ChimeBearer=app.bob)
    assert m["ChannelMessage"]["Content"] == "bob's"
    app.messaging.update_channel_message(
        ChannelArn=channel, MessageId=bobs, Content="bob's, edited", ChimeBearer=app.bob
    )
    app.messaging.redact_channel_message(ChannelArn=channel, MessageId=bobs, ChimeBearer=app.bob)
    m = app.messaging.get_channel_message(ChannelArn=channel, MessageId=bobs, ChimeBearer=app.bob)
    assert m["ChannelMessage"]["Redacted"] is True


def test_status_only_for_own_messages(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob])
    message_id = app.send(channel, app.alice)
    with expect_error(app.messaging, "ForbiddenException"):
        app.messaging.get_channel_message_status(
            ChannelArn=channel, MessageId=message_id, ChimeBearer=app.bob
        )


def test_admins_and_moderators_need_a_membership_to_send(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, ModeratorArns=[app.bob])
    for bearer in (app.admin, app.bob):
        with expect_error(app.messaging, "ForbiddenException", "member"):
            app.send(channel, bearer, "hello")
    app.add(channel, app.admin)
    app.send(channel, app.admin, "now I can")


# --- bans ----------------------------------------------------------------------------------------------------


def test_banned_users_cannot_be_re_added(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob])
    app.messaging.create_channel_ban(ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice)
    assert app.bob not in members(app, channel)
    with expect_error(app.messaging, "ForbiddenException", "banned"):
        app.add(channel, app.bob)
    batch = app.messaging.batch_create_channel_membership(
        ChannelArn=channel, MemberArns=[app.bob, app.carol], ChimeBearer=app.alice
    )
    assert [m["Arn"] for m in batch["BatchChannelMemberships"]["Members"]] == [app.carol]
    assert [(e["MemberArn"], e["ErrorCode"]) for e in batch["Errors"]] == [(app.bob, "Forbidden")]
    # A banned user is no member: it cannot send.
    with expect_error(app.messaging, "ForbiddenException"):
        app.send(channel, app.bob, "let me back")


def test_bans_of_moderators_and_admins_are_refused(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.admin], ModeratorArns=[app.bob])
    for target in (app.bob, app.admin):
        with expect_error(
            app.messaging, "ForbiddenException", "moderator or an app instance admin"
        ):
            app.messaging.create_channel_ban(
                ChannelArn=channel, MemberArn=target, ChimeBearer=app.alice
            )
    assert members(app, channel) == {app.alice, app.bob, app.admin}
    bans = app.messaging.list_channel_bans(ChannelArn=channel, ChimeBearer=app.alice)
    assert bans["ChannelBans"] == []


def test_banning_twice_conflicts(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob])
    app.messaging.create_channel_ban(ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice)
    with expect_error(app.messaging, "ConflictException", "already banned"):
        app.messaging.create_channel_ban(
            ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice
        )


# --- message visibility --------------------------------------------------------------------------------------


def test_targeted_message_visible_only_to_target_and_sender(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    public = app.send(channel, app.alice, "to all")
    private = app.send(channel, app.alice, "to bob", Target=[{"MemberArn": app.bob}])
    for viewer in (app.alice, app.bob):
        assert history(app, channel, viewer) == [private, public]
        got = app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=private, ChimeBearer=viewer
        )["ChannelMessage"]
        assert got["Target"] == [{"MemberArn": app.bob}]
        assert got["Content"] == "to bob"
    assert history(app, channel, app.carol) == [public]
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=private, ChimeBearer=app.carol
        )


def test_target_must_be_a_member(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    with expect_error(app.messaging, "BadRequestException", "member"):
        app.send(channel, app.alice, "psst", Target=[{"MemberArn": app.dave}])


def test_non_persistent_messages_are_not_kept(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    kept = app.send(channel, app.alice, "stays")
    fleeting = app.send(channel, app.alice, "typing...", Persistence="NON_PERSISTENT")
    assert fleeting and fleeting != kept
    assert history(app, channel, app.alice) == [kept]
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(
            ChannelArn=channel, MessageId=fleeting, ChimeBearer=app.alice
        )


# --- idempotency -------------------------------------------------------------------------------------------


def test_create_channel_client_request_token(app: Any, expect_error: Any) -> None:
    first = app.channel(app.alice, Name="once", ClientRequestToken="chan-token-1")
    again = app.channel(app.alice, Name="once", ClientRequestToken="chan-token-1")
    assert first == again
    listed = app.messaging.list_channels_moderated_by_app_instance_user(
        AppInstanceUserArn=app.alice, ChimeBearer=app.alice
    )
    assert [c["ChannelSummary"]["ChannelArn"] for c in listed["Channels"]] == [first]
    with expect_error(app.messaging, "ConflictException", "ClientRequestToken"):
        app.channel(app.alice, Name="twice", ClientRequestToken="chan-token-1")


def test_send_message_client_request_token(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    first = app.send(channel, app.alice, "once", ClientRequestToken="msg-token-1")
    again = app.send(channel, app.alice, "once", ClientRequestToken="msg-token-1")
    assert first == again
    assert history(app, channel, app.alice) == [first]
    with expect_error(app.messaging, "ConflictException", "ClientRequestToken"):
        app.send(channel, app.alice, "different", ClientRequestToken="msg-token-1")
    assert history(app, channel, app.alice) == [first]
    # Without a token, botocore fills in a fresh one: two sends are two messages.
    app.send(channel, app.alice, "once")
    assert len(history(app, channel, app.alice)) == 2


# --- limits ------------------------------------------------------------------------------------------------


def test_standard_content_limit_is_4096_bytes(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    app.send(channel, app.alice, "x" * 4096)
    app.send(channel, app.alice, "é" * 2048)  # 4096 bytes in UTF-8
    with expect_error(app.messaging, "BadRequestException", "4096"):
        app.send(channel, app.alice, "x" * 4097)
    with expect_error(app.messaging, "BadRequestException", "4096"):
        app.send(channel, app.alice, "é" * 2049)
    assert len(history(app, channel, app.alice)) == 2


def test_control_content_limit_is_30_bytes(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    app.send(channel, app.alice, "c" * 30, Type="CONTROL")
    with expect_error(app.messaging, "BadRequestException", "30"):
        app.send(channel, app.alice, "c" * 31, Type="CONTROL")


def test_update_respects_the_content_limit(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    message_id = app.send(channel, app.alice, "short")
    with expect_error(app.messaging, "BadRequestException", "4096"):
        app.messaging.update_channel_message(
            ChannelArn=channel, MessageId=message_id, Content="x" * 4097, ChimeBearer=app.alice
        )


def test_metadata_limit_is_1024(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    app.send(channel, app.alice, Metadata="m" * 1024)
    with expect_error(app.messaging, "BadRequestException", "Metadata"):
        app.send(channel, app.alice, Metadata="m" * 1025)


def test_message_attributes_limit_is_1_kb(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    ok = {f"k{i}": {"StringValues": ["v" * 254]} for i in range(4)}  # 4 * (2 + 254) = 1024
    app.send(channel, app.alice, MessageAttributes=ok)
    too_big = {f"k{i}": {"StringValues": ["v" * 255]} for i in range(4)}
    with expect_error(app.messaging, "BadRequestException", "MessageAttributes"):
        app.send(channel, app.alice, MessageAttributes=too_big)
    assert len(history(app, channel, app.alice)) == 1


# --- the bearer ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bearer",
    [
        "arn:aws:chime:us-east-1:123456789012:not-an-app-instance",
        "arn:aws:chime:us-east-1:123456789012:app-instance/x/user/nobody",
        "arn:aws:chime:us-east-1:123456789012:app-instance/x",
    ],
    ids=["unparsable", "unknown-user", "not-a-user"],
)
def test_bad_bearer_is_unauthorized(app: Any, expect_error: Any, bearer: str) -> None:
    channel = app.channel(app.alice, Privacy="PUBLIC")
    with expect_error(app.messaging, "UnauthorizedClientException", "x-amz-chime-bearer"):
        app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=bearer)
    with expect_error(app.messaging, "UnauthorizedClientException", "x-amz-chime-bearer"):
        app.messaging.create_channel(AppInstanceArn=app.arn, Name="n", ChimeBearer=bearer)


def test_channel_arn_as_bearer_is_unauthorized(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Privacy="PUBLIC")
    with expect_error(app.messaging, "UnauthorizedClientException"):
        app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=channel)


def test_bearer_of_another_app_instance_is_forbidden(
    app: Any, other_app: Any, expect_error: Any
) -> None:
    channel = app.channel(app.alice, Privacy="PUBLIC")
    stranger = other_app.alice
    with expect_error(app.messaging, "ForbiddenException", "app instance"):
        app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=stranger)
    with expect_error(app.messaging, "ForbiddenException", "app instance"):
        app.send(channel, stranger)
    with expect_error(app.messaging, "ForbiddenException", "app instance"):
        app.messaging.create_channel(AppInstanceArn=app.arn, Name="n", ChimeBearer=stranger)
    # Even the other instance's admin has no say here.
    with expect_error(app.messaging, "ForbiddenException", "app instance"):
        app.messaging.list_channel_messages(ChannelArn=channel, ChimeBearer=other_app.admin)


def test_admins_act_only_within_their_app_instance(
    app: Any, other_app: Any, expect_error: Any
) -> None:
    app.channel(app.alice, Privacy="PRIVATE", MemberArns=[app.bob])
    app.channel(app.alice, Privacy="PUBLIC")
    # Another instance's admin (or user) cannot list this instance's channels...
    for bearer, privacy in ((other_app.admin, "PRIVATE"), (other_app.admin, "PUBLIC")):
        with expect_error(app.messaging, "ForbiddenException", "app instance"):
            app.messaging.list_channels(AppInstanceArn=app.arn, ChimeBearer=bearer, Privacy=privacy)
    with expect_error(app.messaging, "ForbiddenException", "app instance"):
        app.messaging.list_channels(AppInstanceArn=app.arn, ChimeBearer=other_app.alice)
    # ... nor speak for its users.
    with expect_error(app.messaging, "ForbiddenException", "app instance user"):
        app.messaging.list_channel_memberships_for_app_instance_user(
            AppInstanceUserArn=app.bob, ChimeBearer=other_app.admin
        )
    with expect_error(app.messaging, "ForbiddenException", "app instance user"):
        app.messaging.list_channels_moderated_by_app_instance_user(
            AppInstanceUserArn=app.alice, ChimeBearer=other_app.admin
        )
    # Its own admin can.
    mine = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=app.bob, ChimeBearer=app.admin
    )
    assert len(mine["ChannelMemberships"]) == 1


def test_missing_resources_are_not_found(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    ghost_channel = f"{app.arn}/channel/ghost"
    with expect_error(app.messaging, "NotFoundException", "does not exist"):
        app.messaging.describe_channel(ChannelArn=ghost_channel, ChimeBearer=app.alice)
    with expect_error(app.messaging, "NotFoundException"):
        app.send(ghost_channel, app.alice)
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(
            ChannelArn=channel, MessageId="m" * 64, ChimeBearer=app.alice
        )
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_membership(
            ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice
        )
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.delete_channel_membership(
            ChannelArn=channel, MemberArn=app.bob, ChimeBearer=app.alice
        )
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.list_channels(AppInstanceArn=app.arn + "0", ChimeBearer=app.alice)
    with expect_error(app.identity, "NotFoundException"):
        app.identity.describe_app_instance_user(AppInstanceUserArn=f"{app.arn}/user/ghost")
    with expect_error(app.identity, "NotFoundException"):
        app.identity.create_app_instance_user(
            AppInstanceArn=app.arn + "0", AppInstanceUserId="x", Name="x"
        )


# --- one test per modeled error class ----------------------------------------------------------------------------


def test_error_bad_request(app: Any, expect_error: Any) -> None:
    with expect_error(app.messaging, "BadRequestException") as caught:
        app.messaging.send_channel_message(
            ChannelArn=app.channel(app.alice),
            Content="x",
            Type="LOUD",
            Persistence="PERSISTENT",
            ChimeBearer=app.alice,
        )
    assert isinstance(caught[0], app.messaging.exceptions.BadRequestException)
    assert "Type" in caught[0].response["Error"]["Message"]


def test_error_not_found(app: Any, expect_error: Any) -> None:
    with expect_error(app.identity, "NotFoundException") as caught:
        app.identity.describe_app_instance(AppInstanceArn=app.arn + "-gone")
    assert isinstance(caught[0], app.identity.exceptions.NotFoundException)


def test_error_conflict(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.bob])
    with expect_error(app.messaging, "ConflictException") as caught:
        app.add(channel, app.bob)
    assert isinstance(caught[0], app.messaging.exceptions.ConflictException)


def test_error_forbidden(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice)
    with expect_error(app.messaging, "ForbiddenException") as caught:
        app.messaging.describe_channel(ChannelArn=channel, ChimeBearer=app.bob)
    assert isinstance(caught[0], app.messaging.exceptions.ForbiddenException)


def test_error_unauthorized_client(app: Any, expect_error: Any) -> None:
    with expect_error(app.messaging, "UnauthorizedClientException") as caught:
        app.messaging.list_channels(AppInstanceArn=app.arn, ChimeBearer=f"{app.arn}/user/ghost")
    assert isinstance(caught[0], app.messaging.exceptions.UnauthorizedClientException)


def test_error_resource_limit_exceeded(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, Tags=[{"Key": f"a{i}", "Value": "v"} for i in range(30)])
    with expect_error(app.messaging, "ResourceLimitExceededException", "50") as caught:
        # 51 tags in all; one request may carry at most 50 (the model says so: BadRequest).
        app.messaging.tag_resource(
            ResourceARN=channel, Tags=[{"Key": f"b{i}", "Value": "v"} for i in range(21)]
        )
    assert isinstance(caught[0], app.messaging.exceptions.ResourceLimitExceededException)
    assert len(app.messaging.list_tags_for_resource(ResourceARN=channel)["Tags"]) == 30


def test_bearer_that_is_not_an_arn_at_all_is_unauthorized(app: Any, expect_error: Any) -> None:
    """Even a value the model's ARN pattern rejects is an invalid bearer, not a BadRequest."""
    channel = app.channel(app.alice, Privacy="PUBLIC")
    with expect_error(app.messaging, "UnauthorizedClientException", "x-amz-chime-bearer"):
        app.messaging.describe_channel(ChannelArn=channel, ChimeBearer="not-an-arn")
