"""chime-sdk-identity over loopback with boto3: every implemented operation, parsed by botocore."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

ARN_PREFIX = "arn:aws:chime:us-east-1:123456789012:app-instance/"


def status(response: dict[str, Any]) -> int:
    code: int = response["ResponseMetadata"]["HTTPStatusCode"]
    return code


# --- app instances -------------------------------------------------------------------------------


def test_create_and_describe_app_instance(identity: Any) -> None:
    created = identity.create_app_instance(Name="Support", Metadata="tier=gold")
    assert status(created) == 201
    arn = created["AppInstanceArn"]
    assert arn.startswith(ARN_PREFIX)
    assert created["ResponseMetadata"]["RequestId"]

    described = identity.describe_app_instance(AppInstanceArn=arn)
    assert status(described) == 200
    ai = described["AppInstance"]
    assert ai["AppInstanceArn"] == arn
    assert ai["Name"] == "Support"
    assert ai["Metadata"] == "tier=gold"
    assert isinstance(ai["CreatedTimestamp"], datetime)
    assert isinstance(ai["LastUpdatedTimestamp"], datetime)
    assert ai["CreatedTimestamp"] == ai["LastUpdatedTimestamp"]


def test_update_app_instance(identity: Any) -> None:
    arn = identity.create_app_instance(Name="before")["AppInstanceArn"]
    created = identity.describe_app_instance(AppInstanceArn=arn)["AppInstance"]
    time.sleep(0.002)  # timestamps have millisecond resolution
    updated = identity.update_app_instance(AppInstanceArn=arn, Name="after", Metadata="m2")
    assert status(updated) == 200
    assert updated["AppInstanceArn"] == arn
    ai = identity.describe_app_instance(AppInstanceArn=arn)["AppInstance"]
    assert (ai["Name"], ai["Metadata"]) == ("after", "m2")
    assert ai["LastUpdatedTimestamp"] > created["LastUpdatedTimestamp"]
    assert ai["CreatedTimestamp"] == created["CreatedTimestamp"]


def test_delete_app_instance_removes_it_and_its_users(identity: Any, expect_error: Any) -> None:
    arn = identity.create_app_instance(Name="doomed")["AppInstanceArn"]
    user = identity.create_app_instance_user(AppInstanceArn=arn, AppInstanceUserId="u1", Name="U1")[
        "AppInstanceUserArn"
    ]
    deleted = identity.delete_app_instance(AppInstanceArn=arn)
    assert status(deleted) == 204
    with expect_error(identity, "NotFoundException", "does not exist"):
        identity.describe_app_instance(AppInstanceArn=arn)
    with expect_error(identity, "NotFoundException"):
        identity.describe_app_instance_user(AppInstanceUserArn=user)


def test_list_app_instances_pages_through_all(identity: Any) -> None:
    mine = {identity.create_app_instance(Name=f"list-{i}")["AppInstanceArn"] for i in range(5)}
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxResults": 2}
    pages = 0
    while True:
        page = identity.list_app_instances(**kwargs)
        assert status(page) == 200
        assert len(page["AppInstances"]) <= 2
        seen += [a["AppInstanceArn"] for a in page["AppInstances"]]
        pages += 1
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert pages >= 3
    assert len(seen) == len(set(seen)), "no duplicates across pages"
    assert mine <= set(seen)
    summary = next(
        a
        for a in identity.list_app_instances(MaxResults=50)["AppInstances"]
        if a["AppInstanceArn"] in mine
    )
    assert summary["Name"].startswith("list-")


def test_retention_settings_round_trip(app: Any) -> None:
    put = app.identity.put_app_instance_retention_settings(
        AppInstanceArn=app.arn,
        AppInstanceRetentionSettings={"ChannelRetentionSettings": {"RetentionDays": 30}},
    )
    assert status(put) == 200
    assert put["AppInstanceRetentionSettings"] == {
        "ChannelRetentionSettings": {"RetentionDays": 30}
    }
    assert isinstance(put["InitiateDeletionTimestamp"], datetime)
    got = app.identity.get_app_instance_retention_settings(AppInstanceArn=app.arn)
    assert status(got) == 200
    assert got["AppInstanceRetentionSettings"]["ChannelRetentionSettings"]["RetentionDays"] == 30


def test_retention_settings_default_is_empty(app: Any) -> None:
    got = app.identity.get_app_instance_retention_settings(AppInstanceArn=app.arn)
    assert got["AppInstanceRetentionSettings"] == {}


def test_create_app_instance_is_idempotent(identity: Any, expect_error: Any) -> None:
    first = identity.create_app_instance(Name="idem", ClientRequestToken="token-app-1")
    again = identity.create_app_instance(Name="idem", ClientRequestToken="token-app-1")
    assert first["AppInstanceArn"] == again["AppInstanceArn"]
    count = sum(
        1
        for a in identity.list_app_instances(MaxResults=50)["AppInstances"]
        if a["AppInstanceArn"] == first["AppInstanceArn"]
    )
    assert count == 1
    with expect_error(identity, "ConflictException", "ClientRequestToken"):
        identity.create_app_instance(Name="other name", ClientRequestToken="token-app-1")


# --- users ----------------------------------------------------------------------------------------


def test_create_and_describe_user(app: Any) -> None:
    created = app.identity.create_app_instance_user(
        AppInstanceArn=app.arn, AppInstanceUserId="erin@example.com", Name="Erin", Metadata="m"
    )
    assert status(created) == 201
    arn = created["AppInstanceUserArn"]
    assert arn == f"{app.arn}/user/erin@example.com"
    user = app.identity.describe_app_instance_user(AppInstanceUserArn=arn)["AppInstanceUser"]
    assert user["AppInstanceUserArn"] == arn
    assert (user["Name"], user["Metadata"]) == ("Erin", "m")
    assert isinstance(user["CreatedTimestamp"], datetime)
    assert isinstance(user["LastUpdatedTimestamp"], datetime)
    assert "ExpirationSettings" not in user


def test_create_user_twice_conflicts(app: Any, expect_error: Any) -> None:
    with expect_error(app.identity, "ConflictException", "already exists"):
        app.identity.create_app_instance_user(
            AppInstanceArn=app.arn, AppInstanceUserId="alice", Name="Alice again"
        )


def test_create_user_is_idempotent(app: Any, expect_error: Any) -> None:
    kwargs = {"AppInstanceArn": app.arn, "AppInstanceUserId": "frank", "Name": "Frank"}
    first = app.identity.create_app_instance_user(ClientRequestToken="tok-user-1", **kwargs)
    again = app.identity.create_app_instance_user(ClientRequestToken="tok-user-1", **kwargs)
    assert first["AppInstanceUserArn"] == again["AppInstanceUserArn"]
    listed = app.identity.list_app_instance_users(AppInstanceArn=app.arn)["AppInstanceUsers"]
    assert [u["AppInstanceUserArn"] for u in listed].count(first["AppInstanceUserArn"]) == 1
    with expect_error(app.identity, "ConflictException", "ClientRequestToken"):
        app.identity.create_app_instance_user(
            ClientRequestToken="tok-user-1", **{**kwargs, "Name": "Someone else"}
        )


def test_update_user(app: Any) -> None:
    time.sleep(0.002)  # timestamps have millisecond resolution
    updated = app.identity.update_app_instance_user(
        AppInstanceUserArn=app.bob, Name="Robert", Metadata="new"
    )
    assert status(updated) == 200
    assert updated["AppInstanceUserArn"] == app.bob
    user = app.identity.describe_app_instance_user(AppInstanceUserArn=app.bob)["AppInstanceUser"]
    assert (user["Name"], user["Metadata"]) == ("Robert", "new")
    assert user["LastUpdatedTimestamp"] > user["CreatedTimestamp"]


def test_delete_user(app: Any, expect_error: Any) -> None:
    channel = app.channel(app.alice, MemberArns=[app.carol])
    deleted = app.identity.delete_app_instance_user(AppInstanceUserArn=app.carol)
    assert status(deleted) == 204
    with expect_error(app.identity, "NotFoundException", "does not exist"):
        app.identity.describe_app_instance_user(AppInstanceUserArn=app.carol)
    members = app.messaging.list_channel_memberships(ChannelArn=channel, ChimeBearer=app.alice)
    assert app.carol not in [m["Member"]["Arn"] for m in members["ChannelMemberships"]]


def test_list_users_pages(app: Any) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {"AppInstanceArn": app.arn, "MaxResults": 2}
    while True:
        page = app.identity.list_app_instance_users(**kwargs)
        assert status(page) == 200
        assert page["AppInstanceArn"] == app.arn
        seen += [u["AppInstanceUserArn"] for u in page["AppInstanceUsers"]]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    assert sorted(seen) == sorted(app.users.values())
    page = app.identity.list_app_instance_users(AppInstanceArn=app.arn)
    names = {u["AppInstanceUserArn"]: u["Name"] for u in page["AppInstanceUsers"]}
    assert names[app.alice] == "Alice"


def test_user_expiration_settings_are_stored(app: Any) -> None:
    put = app.identity.put_app_instance_user_expiration_settings(
        AppInstanceUserArn=app.dave,
        ExpirationSettings={"ExpirationDays": 7, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )
    assert status(put) == 200
    assert put["AppInstanceUserArn"] == app.dave
    assert put["ExpirationSettings"] == {
        "ExpirationDays": 7,
        "ExpirationCriterion": "CREATED_TIMESTAMP",
    }
    user = app.identity.describe_app_instance_user(AppInstanceUserArn=app.dave)["AppInstanceUser"]
    assert user["ExpirationSettings"] == {
        "ExpirationDays": 7,
        "ExpirationCriterion": "CREATED_TIMESTAMP",
    }
    # Without settings the expiration is removed.
    app.identity.put_app_instance_user_expiration_settings(AppInstanceUserArn=app.dave)
    user = app.identity.describe_app_instance_user(AppInstanceUserArn=app.dave)["AppInstanceUser"]
    assert "ExpirationSettings" not in user


def test_create_user_with_expiration_and_tags(app: Any) -> None:
    arn = app.identity.create_app_instance_user(
        AppInstanceArn=app.arn,
        AppInstanceUserId="temp",
        Name="Temp",
        ExpirationSettings={"ExpirationDays": 1, "ExpirationCriterion": "CREATED_TIMESTAMP"},
        Tags=[{"Key": "team", "Value": "ops"}],
    )["AppInstanceUserArn"]
    user = app.identity.describe_app_instance_user(AppInstanceUserArn=arn)["AppInstanceUser"]
    assert user["ExpirationSettings"]["ExpirationDays"] == 1
    tags = app.identity.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert tags == [{"Key": "team", "Value": "ops"}]


# --- admins ---------------------------------------------------------------------------------------


def test_create_describe_list_delete_admin(app: Any, expect_error: Any) -> None:
    created = app.identity.create_app_instance_admin(
        AppInstanceArn=app.arn, AppInstanceAdminArn=app.carol
    )
    assert status(created) == 201
    assert created["AppInstanceAdmin"] == {"Arn": app.carol, "Name": "Carol"}
    assert created["AppInstanceArn"] == app.arn

    described = app.identity.describe_app_instance_admin(
        AppInstanceArn=app.arn, AppInstanceAdminArn=app.carol
    )["AppInstanceAdmin"]
    assert described["Admin"] == {"Arn": app.carol, "Name": "Carol"}
    assert described["AppInstanceArn"] == app.arn
    assert isinstance(described["CreatedTimestamp"], datetime)

    listed = app.identity.list_app_instance_admins(AppInstanceArn=app.arn)
    assert status(listed) == 200
    assert listed["AppInstanceArn"] == app.arn
    assert sorted(a["Admin"]["Arn"] for a in listed["AppInstanceAdmins"]) == sorted(
        [app.admin, app.carol]
    )

    with expect_error(app.identity, "ConflictException", "already an admin"):
        app.identity.create_app_instance_admin(
            AppInstanceArn=app.arn, AppInstanceAdminArn=app.carol
        )

    deleted = app.identity.delete_app_instance_admin(
        AppInstanceArn=app.arn, AppInstanceAdminArn=app.carol
    )
    assert status(deleted) == 204
    with expect_error(app.identity, "NotFoundException"):
        app.identity.describe_app_instance_admin(
            AppInstanceArn=app.arn, AppInstanceAdminArn=app.carol
        )
    listed = app.identity.list_app_instance_admins(AppInstanceArn=app.arn)
    assert [a["Admin"]["Arn"] for a in listed["AppInstanceAdmins"]] == [app.admin]


def test_admin_must_be_a_user_of_the_instance(app: Any, identity: Any, expect_error: Any) -> None:
    other = identity.create_app_instance(Name="other")["AppInstanceArn"]
    with expect_error(identity, "NotFoundException"):
        identity.create_app_instance_admin(AppInstanceArn=other, AppInstanceAdminArn=app.alice)


# --- tags -----------------------------------------------------------------------------------------


def test_tag_untag_list_app_instance(app: Any) -> None:
    tagged = app.identity.tag_resource(
        ResourceARN=app.arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "owner", "Value": "me"}]
    )
    assert status(tagged) == 204
    listed = app.identity.list_tags_for_resource(ResourceARN=app.arn)
    assert status(listed) == 200
    assert {t["Key"]: t["Value"] for t in listed["Tags"]} == {"env": "test", "owner": "me"}
    # Tagging an existing key replaces its value.
    app.identity.tag_resource(ResourceARN=app.arn, Tags=[{"Key": "env", "Value": "prod"}])
    untagged = app.identity.untag_resource(ResourceARN=app.arn, TagKeys=["owner"])
    assert status(untagged) == 204
    listed = app.identity.list_tags_for_resource(ResourceARN=app.arn)
    assert listed["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_tags_on_channel_via_messaging(app: Any) -> None:
    channel = app.channel(app.alice, Tags=[{"Key": "k", "Value": "v"}])
    assert app.messaging.list_tags_for_resource(ResourceARN=channel)["Tags"] == [
        {"Key": "k", "Value": "v"}
    ]
    app.messaging.tag_resource(ResourceARN=channel, Tags=[{"Key": "k2", "Value": "v2"}])
    app.messaging.untag_resource(ResourceARN=channel, TagKeys=["k"])
    assert app.messaging.list_tags_for_resource(ResourceARN=channel)["Tags"] == [
        {"Key": "k2", "Value": "v2"}
    ]


def test_create_app_instance_with_tags(identity: Any) -> None:
    arn = identity.create_app_instance(Name="tagged", Tags=[{"Key": "a", "Value": "1"}])[
        "AppInstanceArn"
    ]
    assert identity.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "a", "Value": "1"}]


def test_more_than_50_tags_exceeds_the_limit(app: Any, expect_error: Any) -> None:
    app.identity.tag_resource(
        ResourceARN=app.arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    )
    with expect_error(app.identity, "ResourceLimitExceededException", "50"):
        app.identity.tag_resource(ResourceARN=app.arn, Tags=[{"Key": "k50", "Value": "v"}])
    assert len(app.identity.list_tags_for_resource(ResourceARN=app.arn)["Tags"]) == 50


def test_tags_of_missing_resource(app: Any, expect_error: Any) -> None:
    with expect_error(app.identity, "NotFoundException"):
        app.identity.list_tags_for_resource(ResourceARN=f"{app.arn}/user/nobody")
