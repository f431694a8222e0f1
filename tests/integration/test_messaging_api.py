"""chime-sdk-messaging over loopback with boto3: every implemented operation, parsed by botocore."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bellwire.testing import RunningServer


def status(response: dict[str, Any]) -> int:
    code: int = response["ResponseMetadata"]["HTTPStatusCode"]
    return code


def member_arns(app: Any, channel: str, bearer: str, **kwargs: Any) -> list[str]:
    page = app.messaging.list_channel_memberships(ChannelArn=channel, ChimeBearer=bearer, **kwargs)
    return sorted(m["Member"]["Arn"] for m in page["ChannelMemberships"])


# --- channels --------------------------------------------------------------------------------------


def test_create_and_describe_channel(app: Any) -> None:
    created = app.messaging.create_channel(
        AppInstanceArn=app.arn,
        Name="general",
        Mode="RESTRICTED",
        Privacy="PUBLIC",
        Metadata="meta",
        ChannelId="general-1",
        ChimeBearer=app.alice,
    )
    assert status(created) == 201
    arn = created["ChannelArn"]
    assert arn == f"{app.arn}/channel/general-1"
    described = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)
    assert status(described) == 200
    channel = described["Channel"]
    assert channel["Name"] == "general"
    assert channel["ChannelArn"] == arn
    assert (channel["Mode"], channel["Privacy"], channel["Metadata"]) == (
        "RESTRICTED",
        "PUBLIC",
        "meta",
    )
    assert channel["CreatedBy"] == {"Arn": app.alice, "Name": "Alice"}
    assert isinstance(channel["CreatedTimestamp"], datetime)
    assert isinstance(channel["LastUpdatedTimestamp"], datetime)
    assert "LastMessageTimestamp" not in channel


def test_channel_defaults_and_generated_id(app: Any) -> None:
    arn = app.channel(app.alice)
    channel = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)["Channel"]
    assert (channel["Mode"], channel["Privacy"]) == ("UNRESTRICTED", "PRIVATE")
    channel_id = arn.rsplit("/", 1)[1]
    assert len(channel_id) == 64 and int(channel_id, 16) >= 0


def test_create_channel_with_same_id_conflicts(app: Any, expect_error: Any) -> None:
    app.channel(app.alice, ChannelId="dup")
    with expect_error(app.messaging, "ConflictException", "already exists"):
        app.channel(app.alice, ChannelId="dup")


def test_update_channel(app: Any) -> None:
    arn = app.channel(app.alice, Name="old", Metadata="m1")
    time.sleep(0.002)  # timestamps have millisecond resolution
    updated = app.messaging.update_channel(
        ChannelArn=arn, Name="new", Mode="RESTRICTED", Metadata="m2", ChimeBearer=app.alice
    )
    assert status(updated) == 200
    assert updated["ChannelArn"] == arn
    channel = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)["Channel"]
    assert (channel["Name"], channel["Mode"], channel["Metadata"]) == ("new", "RESTRICTED", "m2")
    assert channel["LastUpdatedTimestamp"] > channel["CreatedTimestamp"]


def test_delete_channel(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice)
    app.send(arn, app.alice)
    deleted = app.messaging.delete_channel(ChannelArn=arn, ChimeBearer=app.alice)
    assert status(deleted) == 204
    with expect_error(app.messaging, "NotFoundException", "does not exist"):
        app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)


def test_list_channels_pages(app: Any) -> None:
    created = {app.channel(app.alice, Privacy="PUBLIC") for _ in range(5)}
    seen: list[str] = []
    kwargs: dict[str, Any] = {"AppInstanceArn": app.arn, "ChimeBearer": app.bob, "MaxResults": 2}
    while True:
        page = app.messaging.list_channels(**kwargs)
        assert status(page) == 200
        assert len(page["Channels"]) <= 2
        seen += [c["ChannelArn"] for c in page["Channels"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted(created)
    summary = app.messaging.list_channels(AppInstanceArn=app.arn, ChimeBearer=app.bob)["Channels"][
        0
    ]
    assert summary["Privacy"] == "PUBLIC"
    assert summary["Mode"] == "UNRESTRICTED"
    assert summary["Name"].startswith("channel-")


def test_search_channels_members_equals_and_includes(app: Any) -> None:
    pair = app.channel(app.alice, MemberArns=[app.bob])
    trio = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    other = app.channel(app.carol)

    def search(bearer: str | None, operator: str, values: list[str]) -> list[str]:
        kwargs: dict[str, Any] = {
            "Fields": [{"Key": "MEMBERS", "Operator": operator, "Values": values}]
        }
        if bearer is not None:
            kwargs["ChimeBearer"] = bearer
        response = app.messaging.search_channels(**kwargs)
        assert status(response) == 200
        return sorted(c["ChannelArn"] for c in response["Channels"])

    assert search(app.alice, "EQUALS", [app.alice, app.bob]) == [pair]
    assert search(app.alice, "INCLUDES", [app.bob]) == sorted([pair, trio])
    assert search(app.alice, "INCLUDES", [app.carol]) == [trio]
    # An admin sees every channel; a user only the ones it belongs to.
    assert search(app.admin, "INCLUDES", [app.carol]) == sorted([trio, other])
    assert search(app.dave, "INCLUDES", [app.carol]) == []
    # Without a bearer (the app backend) every channel of the instance is searched.
    assert search(None, "INCLUDES", [app.carol]) == sorted([trio, other])


def test_search_channels_pages(app: Any) -> None:
    channels = {app.channel(app.alice, MemberArns=[app.bob]) for _ in range(3)}
    seen: list[str] = []
    kwargs: dict[str, Any] = {
        "ChimeBearer": app.bob,
        "Fields": [{"Key": "MEMBERS", "Operator": "INCLUDES", "Values": [app.bob]}],
        "MaxResults": 1,
    }
    while True:
        page = app.messaging.search_channels(**kwargs)
        seen += [c["ChannelArn"] for c in page["Channels"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted(channels)


def test_put_channel_expiration_settings(app: Any) -> None:
    arn = app.channel(app.alice)
    settings = {"ExpirationDays": 3, "ExpirationCriterion": "LAST_MESSAGE_TIMESTAMP"}
    put = app.messaging.put_channel_expiration_settings(
        ChannelArn=arn, ChimeBearer=app.alice, ExpirationSettings=settings
    )
    assert status(put) == 200
    assert put["ChannelArn"] == arn
    assert put["ExpirationSettings"] == settings
    channel = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)["Channel"]
    assert channel["ExpirationSettings"] == settings


def test_create_channel_with_expiration(app: Any) -> None:
    settings = {"ExpirationDays": 10, "ExpirationCriterion": "CREATED_TIMESTAMP"}
    arn = app.channel(app.alice, ExpirationSettings=settings)
    channel = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)["Channel"]
    assert channel["ExpirationSettings"] == settings


# --- memberships ------------------------------------------------------------------------------------


def test_create_and_describe_membership(app: Any) -> None:
    arn = app.channel(app.alice)
    created = app.messaging.create_channel_membership(
        ChannelArn=arn, MemberArn=app.bob, Type="DEFAULT", ChimeBearer=app.alice
    )
    assert status(created) == 201
    assert created["ChannelArn"] == arn
    assert created["Member"] == {"Arn": app.bob, "Name": "Bob"}
    described = app.messaging.describe_channel_membership(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
    )
    assert status(described) == 200
    m = described["ChannelMembership"]
    assert m["Member"] == {"Arn": app.bob, "Name": "Bob"}
    assert m["InvitedBy"] == {"Arn": app.alice, "Name": "Alice"}
    assert m["Type"] == "DEFAULT"
    assert m["ChannelArn"] == arn
    assert isinstance(m["CreatedTimestamp"], datetime)
    assert isinstance(m["LastUpdatedTimestamp"], datetime)


def test_create_membership_twice_conflicts(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    with expect_error(app.messaging, "ConflictException", "already a member"):
        app.add(arn, app.bob)


def test_membership_of_unknown_user_is_not_found(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice)
    with expect_error(app.messaging, "NotFoundException"):
        app.add(arn, f"{app.arn}/user/ghost")


def test_batch_create_memberships_reports_errors_per_member(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    ghost = f"{app.arn}/user/ghost"
    batch = app.messaging.batch_create_channel_membership(
        ChannelArn=arn, MemberArns=[app.carol, app.bob, ghost, app.dave], ChimeBearer=app.alice
    )
    assert status(batch) == 200
    created = batch["BatchChannelMemberships"]
    assert created["Type"] == "DEFAULT"
    assert created["ChannelArn"] == arn
    assert created["InvitedBy"] == {"Arn": app.alice, "Name": "Alice"}
    assert sorted(m["Arn"] for m in created["Members"]) == sorted([app.carol, app.dave])
    errors = {e["MemberArn"]: e for e in batch["Errors"]}
    assert set(errors) == {app.bob, ghost}
    assert errors[app.bob]["ErrorCode"] == "Conflict"
    assert errors[ghost]["ErrorCode"] == "NotFound"
    assert all(e["ErrorMessage"] for e in errors.values())
    assert member_arns(app, arn, app.alice) == sorted([app.alice, app.bob, app.carol, app.dave])


def test_list_memberships_filters_by_type(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    app.add(arn, app.carol, type_="HIDDEN")
    listed = app.messaging.list_channel_memberships(ChannelArn=arn, ChimeBearer=app.alice)
    assert status(listed) == 200
    assert listed["ChannelArn"] == arn
    default = sorted(m["Member"]["Arn"] for m in listed["ChannelMemberships"])
    assert default == sorted([app.alice, app.bob])
    assert member_arns(app, arn, app.alice, Type="HIDDEN") == [app.carol]
    assert member_arns(app, arn, app.alice, Type="DEFAULT") == sorted([app.alice, app.bob])


def test_list_memberships_pages(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob, app.carol, app.dave])
    seen: list[str] = []
    kwargs: dict[str, Any] = {"ChannelArn": arn, "ChimeBearer": app.alice, "MaxResults": 1}
    while True:
        page = app.messaging.list_channel_memberships(**kwargs)
        assert len(page["ChannelMemberships"]) <= 1
        seen += [m["Member"]["Arn"] for m in page["ChannelMemberships"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted([app.alice, app.bob, app.carol, app.dave])


def test_delete_membership(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    deleted = app.messaging.delete_channel_membership(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
    )
    assert status(deleted) == 204
    # Members may leave by themselves.
    app.messaging.delete_channel_membership(
        ChannelArn=arn, MemberArn=app.carol, ChimeBearer=app.carol
    )
    assert member_arns(app, arn, app.alice) == [app.alice]
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_membership(
            ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
        )


def test_memberships_for_app_instance_user(app: Any, expect_error: Any) -> None:
    first = app.channel(app.alice, MemberArns=[app.bob], Name="first")
    second = app.channel(app.carol, MemberArns=[app.bob], Name="second")
    app.channel(app.carol, Name="not bob's")
    listed = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=app.bob, ChimeBearer=app.bob
    )
    assert status(listed) == 200
    summaries = {m["ChannelSummary"]["ChannelArn"]: m for m in listed["ChannelMemberships"]}
    assert set(summaries) == {first, second}
    assert summaries[first]["ChannelSummary"]["Name"] == "first"
    assert summaries[first]["AppInstanceUserMembershipSummary"]["Type"] == "DEFAULT"

    # Paging, one per page.
    page = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=app.bob, ChimeBearer=app.bob, MaxResults=1
    )
    assert len(page["ChannelMemberships"]) == 1 and page["NextToken"]
    rest = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=app.bob, ChimeBearer=app.bob, MaxResults=1, NextToken=page["NextToken"]
    )
    both = [
        m["ChannelSummary"]["ChannelArn"]
        for m in page["ChannelMemberships"] + rest["ChannelMemberships"]
    ]
    assert sorted(both) == sorted([first, second])

    described = app.messaging.describe_channel_membership_for_app_instance_user(
        ChannelArn=first, AppInstanceUserArn=app.bob, ChimeBearer=app.bob
    )
    assert status(described) == 200
    membership = described["ChannelMembership"]
    assert membership["ChannelSummary"]["ChannelArn"] == first
    assert membership["AppInstanceUserMembershipSummary"]["Type"] == "DEFAULT"

    # Only an admin may ask about someone else.
    with expect_error(app.messaging, "ForbiddenException", "AppInstanceAdmin"):
        app.messaging.list_channel_memberships_for_app_instance_user(
            AppInstanceUserArn=app.bob, ChimeBearer=app.carol
        )
    as_admin = app.messaging.list_channel_memberships_for_app_instance_user(
        AppInstanceUserArn=app.bob, ChimeBearer=app.admin
    )
    assert len(as_admin["ChannelMemberships"]) == 2
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_membership_for_app_instance_user(
            ChannelArn=first, AppInstanceUserArn=app.dave, ChimeBearer=app.dave
        )


# --- moderators ---------------------------------------------------------------------------------------


def test_moderators_create_describe_list_delete(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    created = app.messaging.create_channel_moderator(
        ChannelArn=arn, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
    )
    assert status(created) == 201
    assert created["ChannelArn"] == arn
    assert created["ChannelModerator"] == {"Arn": app.bob, "Name": "Bob"}

    described = app.messaging.describe_channel_moderator(
        ChannelArn=arn, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
    )["ChannelModerator"]
    assert described["Moderator"] == {"Arn": app.bob, "Name": "Bob"}
    assert described["CreatedBy"] == {"Arn": app.alice, "Name": "Alice"}
    assert described["ChannelArn"] == arn
    assert isinstance(described["CreatedTimestamp"], datetime)

    listed = app.messaging.list_channel_moderators(ChannelArn=arn, ChimeBearer=app.alice)
    assert status(listed) == 200
    assert listed["ChannelArn"] == arn
    assert sorted(m["Moderator"]["Arn"] for m in listed["ChannelModerators"]) == sorted(
        [app.alice, app.bob]
    )
    with expect_error(app.messaging, "ConflictException"):
        app.messaging.create_channel_moderator(
            ChannelArn=arn, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
        )

    deleted = app.messaging.delete_channel_moderator(
        ChannelArn=arn, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
    )
    assert status(deleted) == 204
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_moderator(
            ChannelArn=arn, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
        )


def test_channels_moderated_by_app_instance_user(app: Any, expect_error: Any) -> None:
    mine = app.channel(app.alice, Name="mine")
    theirs = app.channel(app.bob, Name="theirs")
    listed = app.messaging.list_channels_moderated_by_app_instance_user(
        AppInstanceUserArn=app.alice, ChimeBearer=app.alice
    )
    assert status(listed) == 200
    assert [c["ChannelSummary"]["ChannelArn"] for c in listed["Channels"]] == [mine]
    assert listed["Channels"][0]["ChannelSummary"]["Name"] == "mine"

    described = app.messaging.describe_channel_moderated_by_app_instance_user(
        ChannelArn=mine, AppInstanceUserArn=app.alice, ChimeBearer=app.alice
    )
    assert status(described) == 200
    assert described["Channel"]["ChannelSummary"]["ChannelArn"] == mine
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_moderated_by_app_instance_user(
            ChannelArn=theirs, AppInstanceUserArn=app.alice, ChimeBearer=app.alice
        )


# --- bans --------------------------------------------------------------------------------------------------


def test_bans_create_describe_list_delete(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob, app.carol])
    created = app.messaging.create_channel_ban(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
    )
    assert status(created) == 201
    assert created["ChannelArn"] == arn
    assert created["Member"] == {"Arn": app.bob, "Name": "Bob"}
    # The ban removed the membership.
    assert member_arns(app, arn, app.alice) == sorted([app.alice, app.carol])

    ban = app.messaging.describe_channel_ban(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
    )["ChannelBan"]
    assert ban["Member"] == {"Arn": app.bob, "Name": "Bob"}
    assert ban["CreatedBy"] == {"Arn": app.alice, "Name": "Alice"}
    assert ban["ChannelArn"] == arn
    assert isinstance(ban["CreatedTimestamp"], datetime)

    listed = app.messaging.list_channel_bans(ChannelArn=arn, ChimeBearer=app.alice)
    assert status(listed) == 200
    assert listed["ChannelArn"] == arn
    assert [b["Member"]["Arn"] for b in listed["ChannelBans"]] == [app.bob]

    deleted = app.messaging.delete_channel_ban(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
    )
    assert status(deleted) == 204
    assert (
        app.messaging.list_channel_bans(ChannelArn=arn, ChimeBearer=app.alice)["ChannelBans"] == []
    )
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.describe_channel_ban(ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice)
    # After the ban is lifted the user can be added again.
    app.add(arn, app.bob)
    assert app.bob in member_arns(app, arn, app.alice)


# --- messages ----------------------------------------------------------------------------------------------


def test_send_get_and_status(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    sent = app.messaging.send_channel_message(
        ChannelArn=arn,
        Content="hello bob",
        Type="STANDARD",
        Persistence="PERSISTENT",
        Metadata="md",
        ContentType="text/plain",
        MessageAttributes={"topic": {"StringValues": ["news", "sport"]}},
        ChimeBearer=app.alice,
    )
    assert status(sent) == 201
    assert sent["ChannelArn"] == arn
    assert sent["Status"] == {"Value": "SENT"}
    message_id = sent["MessageId"]
    assert len(message_id) == 64

    got = app.messaging.get_channel_message(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.bob
    )
    assert status(got) == 200
    m = got["ChannelMessage"]
    assert m["ChannelArn"] == arn
    assert m["MessageId"] == message_id
    assert (m["Content"], m["Metadata"], m["ContentType"]) == ("hello bob", "md", "text/plain")
    assert (m["Type"], m["Persistence"]) == ("STANDARD", "PERSISTENT")
    assert m["Sender"] == {"Arn": app.alice, "Name": "Alice"}
    assert m["Redacted"] is False
    assert m["Status"] == {"Value": "SENT"}
    assert m["MessageAttributes"] == {"topic": {"StringValues": ["news", "sport"]}}
    assert isinstance(m["CreatedTimestamp"], datetime)
    assert isinstance(m["LastUpdatedTimestamp"], datetime)
    assert "LastEditedTimestamp" not in m

    status_response = app.messaging.get_channel_message_status(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.alice
    )
    assert status(status_response) == 200
    assert status_response["Status"] == {"Value": "SENT"}

    channel = app.messaging.describe_channel(ChannelArn=arn, ChimeBearer=app.alice)["Channel"]
    assert channel["LastMessageTimestamp"] == m["CreatedTimestamp"]


def test_get_missing_message_is_not_found(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice)
    with expect_error(app.messaging, "NotFoundException", "does not exist"):
        app.messaging.get_channel_message(ChannelArn=arn, MessageId="nope", ChimeBearer=app.alice)


def _all_messages(app: Any, channel: str, bearer: str, **kwargs: Any) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    token: str | None = None
    while True:
        extra = {"NextToken": token} if token else {}
        page = app.messaging.list_channel_messages(
            ChannelArn=channel, ChimeBearer=bearer, **kwargs, **extra
        )
        assert status(page) == 200
        assert page["ChannelArn"] == channel
        pages += 1
        ids += [m["MessageId"] for m in page["ChannelMessages"]]
        token = page.get("NextToken")
        if not token:
            return ids, pages


def test_list_messages_sort_order_and_paging(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    sent = [app.send(arn, app.alice if i % 2 else app.bob, f"m{i}") for i in range(23)]

    newest_first = app.messaging.list_channel_messages(ChannelArn=arn, ChimeBearer=app.alice)
    assert [m["MessageId"] for m in newest_first["ChannelMessages"]] == sent[::-1]
    assert "NextToken" not in newest_first

    ascending, pages = _all_messages(app, arn, app.bob, SortOrder="ASCENDING", MaxResults=5)
    assert ascending == sent, "every message once, in order, across pages"
    assert pages == 5
    descending, pages = _all_messages(app, arn, app.bob, SortOrder="DESCENDING", MaxResults=4)
    assert descending == sent[::-1]
    assert pages == 6

    summary = app.messaging.list_channel_messages(
        ChannelArn=arn, ChimeBearer=app.alice, MaxResults=1
    )["ChannelMessages"][0]
    assert summary["Content"] == "m22"
    assert summary["Sender"]["Arn"] == app.bob
    assert isinstance(summary["CreatedTimestamp"], datetime)
    assert summary["Type"] == "STANDARD"


def test_list_messages_paging_through_many(app: Any) -> None:
    arn = app.channel(app.alice)
    sent = [app.send(arn, app.alice, f"n{i}") for i in range(75)]
    ids, pages = _all_messages(app, arn, app.alice, MaxResults=20)
    assert pages == 4
    assert len(ids) == len(set(ids)) == 75
    assert ids == sent[::-1]


def test_list_messages_not_before_not_after(app: Any) -> None:
    arn = app.channel(app.alice)
    ids = [app.send(arn, app.alice, f"t{i}") for i in range(5)]
    stamps = [
        app.messaging.get_channel_message(ChannelArn=arn, MessageId=i, ChimeBearer=app.alice)[
            "ChannelMessage"
        ]["CreatedTimestamp"]
        for i in ids
    ]
    assert stamps == sorted(stamps)
    # botocore sends the bounds as ISO-8601 with microseconds; the bounds are inclusive.
    window = app.messaging.list_channel_messages(
        ChannelArn=arn,
        ChimeBearer=app.alice,
        SortOrder="ASCENDING",
        NotBefore=stamps[1],
        NotAfter=stamps[3],
    )
    assert [m["MessageId"] for m in window["ChannelMessages"]] == ids[1:4]
    future = datetime.now(UTC) + timedelta(days=1)
    empty = app.messaging.list_channel_messages(
        ChannelArn=arn, ChimeBearer=app.alice, NotBefore=future
    )
    assert empty["ChannelMessages"] == []
    past = app.messaging.list_channel_messages(
        ChannelArn=arn, ChimeBearer=app.alice, NotAfter=stamps[0] - timedelta(seconds=1)
    )
    assert past["ChannelMessages"] == []


def test_update_message(app: Any) -> None:
    arn = app.channel(app.alice)
    message_id = app.send(arn, app.alice, "first", Metadata="md1")
    time.sleep(0.002)  # timestamps have millisecond resolution
    updated = app.messaging.update_channel_message(
        ChannelArn=arn,
        MessageId=message_id,
        Content="second",
        Metadata="md2",
        ChimeBearer=app.alice,
    )
    assert status(updated) == 200
    assert updated["ChannelArn"] == arn
    assert updated["MessageId"] == message_id
    assert updated["Status"] == {"Value": "SENT"}
    m = app.messaging.get_channel_message(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.alice
    )["ChannelMessage"]
    assert (m["Content"], m["Metadata"]) == ("second", "md2")
    assert isinstance(m["LastEditedTimestamp"], datetime)
    assert m["LastEditedTimestamp"] > m["CreatedTimestamp"]
    listed = app.messaging.list_channel_messages(ChannelArn=arn, ChimeBearer=app.alice)
    assert [x["Content"] for x in listed["ChannelMessages"]] == ["second"]


def test_redact_message(app: Any) -> None:
    arn = app.channel(app.alice)
    message_id = app.send(arn, app.alice, "secret", Metadata="md")
    redacted = app.messaging.redact_channel_message(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.alice
    )
    assert status(redacted) == 200
    assert (redacted["ChannelArn"], redacted["MessageId"]) == (arn, message_id)
    m = app.messaging.get_channel_message(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.alice
    )["ChannelMessage"]
    assert m["Redacted"] is True
    assert "Content" not in m and "Metadata" not in m
    listed = app.messaging.list_channel_messages(ChannelArn=arn, ChimeBearer=app.alice)
    assert [x["MessageId"] for x in listed["ChannelMessages"]] == [message_id]
    assert listed["ChannelMessages"][0]["Redacted"] is True


def test_delete_message(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.admin])
    keep = app.send(arn, app.alice, "keep")
    gone = app.send(arn, app.alice, "gone")
    deleted = app.messaging.delete_channel_message(
        ChannelArn=arn, MessageId=gone, ChimeBearer=app.admin
    )
    assert status(deleted) == 204
    with expect_error(app.messaging, "NotFoundException"):
        app.messaging.get_channel_message(ChannelArn=arn, MessageId=gone, ChimeBearer=app.alice)
    listed = app.messaging.list_channel_messages(ChannelArn=arn, ChimeBearer=app.alice)
    assert [m["MessageId"] for m in listed["ChannelMessages"]] == [keep]


def test_control_message(app: Any) -> None:
    arn = app.channel(app.alice)
    message_id = app.send(arn, app.alice, "typing", Type="CONTROL")
    m = app.messaging.get_channel_message(
        ChannelArn=arn, MessageId=message_id, ChimeBearer=app.alice
    )["ChannelMessage"]
    assert (m["Type"], m["Content"]) == ("CONTROL", "typing")


def test_update_read_marker(app: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    before = datetime.now(UTC)
    marked = app.messaging.update_channel_read_marker(ChannelArn=arn, ChimeBearer=app.bob)
    assert status(marked) == 200
    assert marked["ChannelArn"] == arn
    summary = app.messaging.describe_channel_membership_for_app_instance_user(
        ChannelArn=arn, AppInstanceUserArn=app.bob, ChimeBearer=app.bob
    )["ChannelMembership"]["AppInstanceUserMembershipSummary"]
    stamp = summary["ReadMarkerTimestamp"]
    assert isinstance(stamp, datetime)
    assert stamp >= before - timedelta(seconds=1)
    other = app.messaging.describe_channel_membership_for_app_instance_user(
        ChannelArn=arn, AppInstanceUserArn=app.alice, ChimeBearer=app.alice
    )["ChannelMembership"]["AppInstanceUserMembershipSummary"]
    assert "ReadMarkerTimestamp" not in other


def test_membership_preferences(app: Any, expect_error: Any) -> None:
    arn = app.channel(app.alice, MemberArns=[app.bob])
    initial = app.messaging.get_channel_membership_preferences(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.bob
    )
    assert status(initial) == 200
    assert initial["ChannelArn"] == arn
    assert initial["Member"] == {"Arn": app.bob, "Name": "Bob"}
    assert initial.get("Preferences", {}) == {}

    rule = json.dumps({"topic": ["news"]})
    preferences = {"PushNotifications": {"AllowNotifications": "FILTERED", "FilterRule": rule}}
    put = app.messaging.put_channel_membership_preferences(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.bob, Preferences=preferences
    )
    assert status(put) == 200
    assert put["Preferences"] == preferences
    assert put["Member"]["Arn"] == app.bob
    got = app.messaging.get_channel_membership_preferences(
        ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.bob
    )
    assert got["Preferences"] == preferences
    # Someone else's preferences are not theirs to read.
    with expect_error(app.messaging, "ForbiddenException"):
        app.messaging.get_channel_membership_preferences(
            ChannelArn=arn, MemberArn=app.bob, ChimeBearer=app.alice
        )


def test_get_messaging_session_endpoint(server: RunningServer, messaging: Any) -> None:
    response = messaging.get_messaging_session_endpoint()
    assert status(response) == 200
    url = response["Endpoint"]["Url"]
    assert url == f"127.0.0.1:{server.port}"
    assert "://" not in url and "/" not in url


@pytest.mark.parametrize("member", ["MemberArn", "MemberArns"])
def test_sub_channel_ids_are_refused(app: Any, expect_error: Any, member: str) -> None:
    channel = app.channel(app.alice)  # a regular channel: SubChannelIds are elastic ones
    with expect_error(app.messaging, "BadRequestException", "only to elastic channels"):
        if member == "MemberArn":
            app.messaging.create_channel_membership(
                ChannelArn=channel,
                MemberArn=app.bob,
                Type="DEFAULT",
                SubChannelId="s1",
                ChimeBearer=app.alice,
            )
        else:
            app.messaging.batch_create_channel_membership(
                ChannelArn=channel, MemberArns=[app.bob], SubChannelId="s1", ChimeBearer=app.alice
            )
