"""boto3's ``iam`` and ``sts`` clients against a real server: every operation bellwire serves,
the modeled errors they raise, and what the credentials they create may and may not do."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from store_engines import dump_store

from bellwire.testing import RunningServer, start_server

ACCOUNT = "123456789012"
LOOSE = Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"})
ALLOW_ALL_CHIME = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "chime:*", "Resource": "*"}],
    }
)
TRUST_ACCOUNT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(Path(tmp_path_factory.mktemp("iam-api")), region="ap-south-1")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def iam(running: RunningServer) -> Any:
    return running.client("iam", config=LOOSE)


@pytest.fixture
def name() -> str:
    return f"u-{uuid.uuid4().hex[:10]}"


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status_of(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def keyed(running: RunningServer, key: dict[str, Any], service: str, **kw: Any) -> Any:
    return running.client(
        service,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        aws_session_token=key.get("SessionToken"),
        config=LOOSE,
        **kw,
    )


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# --- users --------------------------------------------------------------------------------------


def test_user_lifecycle(iam: Any, name: str) -> None:
    created = iam.create_user(
        UserName=name, Path="/team/", Tags=[{"Key": "dept", "Value": "chat"}]
    )["User"]
    assert created["UserName"] == name
    assert created["Path"] == "/team/"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/{name}"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Tags"] == [{"Key": "dept", "Value": "chat"}]
    fetched = iam.get_user(UserName=name)["User"]
    assert fetched == created
    # Names are unique whatever their case, as in IAM.
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as caught:
        iam.create_user(UserName=name.upper())
    assert status_of(caught) == 409
    listed = iam.list_users(PathPrefix="/team/")["Users"]
    assert name in [u["UserName"] for u in listed]
    assert name not in [u["UserName"] for u in iam.list_users(PathPrefix="/other/")["Users"]]
    iam.delete_user(UserName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as caught:
        iam.get_user(UserName=name)
    assert status_of(caught) == 404
    assert caught.value.response["Error"]["Message"] == (
        f"The user with name {name} cannot be found."
    )
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_user(UserName=name)


def test_list_users_pages(iam: Any) -> None:
    prefix = f"/page-{uuid.uuid4().hex[:6]}/"
    names = sorted(f"p{i}-{uuid.uuid4().hex[:6]}" for i in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    seen: list[str] = []
    marker: dict[str, str] = {}
    while True:
        page = iam.list_users(PathPrefix=prefix, MaxItems=2, **marker)
        seen += [u["UserName"] for u in page["Users"]]
        assert len(page["Users"]) <= 2
        if not page["IsTruncated"]:
            break
        marker = {"Marker": page["Marker"]}
    assert seen == names
    paginated = iam.get_paginator("list_users").paginate(
        PathPrefix=prefix, PaginationConfig={"PageSize": 3}
    )
    assert [u["UserName"] for p in paginated for u in p["Users"]] == names
    with pytest.raises(ClientError) as caught:
        iam.list_users(MaxItems=0)
    assert code_of(caught) == "ValidationError"


def test_model_constraints_are_validation_errors(iam: Any) -> None:
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName="not a valid name!")
    assert code_of(caught) == "ValidationError"
    assert status_of(caught) == 400
    assert "userName" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        iam.create_user(UserName="x" * 65)
    assert code_of(caught) == "ValidationError"


# --- access keys --------------------------------------------------------------------------------


def test_access_keys(running: RunningServer, iam: Any, name: str) -> None:
    iam.create_user(UserName=name)
    first = iam.create_access_key(UserName=name)["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA")
    assert first["Status"] == "Active" and first["UserName"] == name
    second = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(iam.exceptions.LimitExceededException):
        iam.create_access_key(UserName=name)
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in listed) == sorted(
        [first["AccessKeyId"], second["AccessKeyId"]]
    )
    assert all("SecretAccessKey" not in k for k in listed)

    sts = keyed(running, first, "sts")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    iam.update_access_key(UserName=name, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    assert {
        k["AccessKeyId"]: k["Status"]
        for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    }[first["AccessKeyId"]] == "Inactive"
    with pytest.raises(ClientError) as caught:
        sts.get_caller_identity()
    assert code_of(caught) == "InvalidClientTokenId"
    assert status_of(caught) == 403
    with pytest.raises(ClientError) as caught:
        keyed(running, first, "chime-sdk-identity").list_app_instances()
    assert code_of(caught) == "UnrecognizedClientException"
    iam.update_access_key(UserName=name, AccessKeyId=first["AccessKeyId"], Status="Active")
    sts.get_caller_identity()

    iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])
    with pytest.raises(ClientError) as caught:
        sts.get_caller_identity()
    assert code_of(caught) == "InvalidClientTokenId"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])
    other = f"{name}-other"
    iam.create_user(UserName=other)
    with pytest.raises(iam.exceptions.NoSuchEntityException):  # not that user's key
        iam.update_access_key(UserName=other, AccessKeyId=second["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as caught:
        iam.update_access_key(UserName=name, AccessKeyId=second["AccessKeyId"], Status="Paused")
    assert code_of(caught) == "ValidationError"


def test_a_user_manages_its_own_keys_without_naming_itself(
    running: RunningServer, iam: Any, name: str
) -> None:
    iam.create_user(UserName=name)
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{name}"
    iam.put_user_policy(
        UserName=name,
        PolicyName="self",
        PolicyDocument=policy(
            {
                "Effect": "Allow",
                "Action": ["iam:GetUser", "iam:*AccessKey*"],
                "Resource": "arn:aws:iam::*:user/${aws:username}",
            }
        ),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    own = keyed(running, key, "iam")
    assert own.get_user()["User"]["Arn"] == user_arn
    assert own.list_access_keys()["AccessKeyMetadata"][0]["AccessKeyId"] == key["AccessKeyId"]
    with pytest.raises(ClientError) as caught:
        own.list_users()
    assert code_of(caught) == "AccessDenied"
    assert caught.value.response["Error"]["Message"] == (
        f"User: {user_arn} is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/* because no identity-based policy allows the "
        "iam:ListUsers action"
    )
    with pytest.raises(ClientError) as caught:
        own.get_user(UserName="someone-else")
    assert code_of(caught) == "AccessDenied"
    root_user = running.client("iam").get_user()["User"]
    assert root_user["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert root_user["UserId"] == ACCOUNT


def test_deleting_a_user_needs_its_keys_and_policies_gone(
    running: RunningServer, iam: Any, name: str
) -> None:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=ALLOW_ALL_CHIME)
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_user(UserName=name)
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_user(UserName=name)
    iam.delete_user_policy(UserName=name, PolicyName="p")
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as caught:
        keyed(running, key, "sts").get_caller_identity()
    assert code_of(caught) == "InvalidClientTokenId"


# --- user policies ------------------------------------------------------------------------------


def test_user_policies(iam: Any, name: str) -> None:
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="chime", PolicyDocument=ALLOW_ALL_CHIME)
    iam.put_user_policy(UserName=name, PolicyName="another", PolicyDocument=ALLOW_ALL_CHIME)
    got = iam.get_user_policy(UserName=name, PolicyName="chime")
    assert got["UserName"] == name and got["PolicyName"] == "chime"
    assert got["PolicyDocument"] == json.loads(ALLOW_ALL_CHIME)  # URL-encoded on the wire
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["another", "chime"]
    page = iam.list_user_policies(UserName=name, MaxItems=1)
    assert page["PolicyNames"] == ["another"] and page["IsTruncated"]
    rest = iam.list_user_policies(UserName=name, Marker=page["Marker"])
    assert rest["PolicyNames"] == ["chime"] and not rest["IsTruncated"]
    iam.delete_user_policy(UserName=name, PolicyName="another")
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["chime"]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user_policy(UserName=name, PolicyName="another")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_user_policy(UserName=name, PolicyName="another")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.put_user_policy(UserName="nobody-here", PolicyName="p", PolicyDocument=ALLOW_ALL_CHIME)
    # A policy that fits alone (2048 non-blank characters) but not with the one already there.
    statements: list[dict[str, Any]] = []
    while len(policy(*statements).replace(" ", "")) < 2048 - 90:
        statements.append(
            {"Effect": "Allow", "Action": "chime:ListChannels", "Resource": "*", "Sid": "x" * 20}
        )
        statements[-1]["Sid"] = f"S{len(statements)}"
    big = policy(*statements)
    with pytest.raises(iam.exceptions.LimitExceededException):
        iam.put_user_policy(UserName=name, PolicyName="big", PolicyDocument=big)


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        json.dumps({"Version": "2012-10-17"}),
        policy({"Effect": "Permit", "Action": "chime:*", "Resource": "*"}),
        policy({"Effect": "Allow", "Action": "chime:*"}),
        policy({"Effect": "Allow", "Action": "chime:*", "Resource": "*", "Principal": "*"}),
    ],
    ids=["not-json", "no-statement", "bad-effect", "no-resource", "principal-in-identity"],
)
def test_malformed_policies_are_refused_everywhere(
    running: RunningServer, iam: Any, name: str, document: str
) -> None:
    iam.create_user(UserName=name)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException) as caught:
        iam.put_user_policy(UserName=name, PolicyName="bad", PolicyDocument=document)
    assert status_of(caught) == 400
    role = f"r-{name}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.put_role_policy(RoleName=role, PolicyName="bad", PolicyDocument=document)
    sts = running.client("sts", config=LOOSE)
    with pytest.raises(sts.exceptions.MalformedPolicyDocumentException):
        sts.assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
            RoleSessionName="sess",
            Policy=document,
        )


def test_malformed_trust_policies_are_refused(iam: Any, name: str) -> None:
    no_principal = policy({"Effect": "Allow", "Action": "sts:AssumeRole"})
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=no_principal)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=no_principal)
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=ALLOW_ALL_CHIME)


# --- roles --------------------------------------------------------------------------------------


def test_role_lifecycle(iam: Any, name: str) -> None:
    created = iam.create_role(
        RoleName=name,
        Path="/apps/",
        AssumeRolePolicyDocument=TRUST_ACCOUNT,
        Description="chat users",
        MaxSessionDuration=7200,
        Tags=[{"Key": "app", "Value": "chat"}],
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/apps/{name}"
    assert created["RoleId"].startswith("AROA")
    assert created["MaxSessionDuration"] == 7200
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST_ACCOUNT)
    fetched = iam.get_role(RoleName=name)["Role"]
    assert fetched["Description"] == "chat users"
    assert fetched["Tags"] == [{"Key": "app", "Value": "chat"}]
    assert name in [r["RoleName"] for r in iam.list_roles(PathPrefix="/apps/")["Roles"]]
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT)

    other_trust = json.loads(TRUST_ACCOUNT)
    other_trust["Statement"][0]["Sid"] = "Changed"
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(other_trust))
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == other_trust

    iam.put_role_policy(RoleName=name, PolicyName="chime", PolicyDocument=ALLOW_ALL_CHIME)
    got = iam.get_role_policy(RoleName=name, PolicyName="chime")
    assert got["RoleName"] == name and got["PolicyDocument"] == json.loads(ALLOW_ALL_CHIME)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["chime"]
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_role(RoleName=name)
    iam.delete_role_policy(RoleName=name, PolicyName="chime")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role_policy(RoleName=name, PolicyName="chime")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_role_policy(RoleName=name, PolicyName="chime")
    iam.delete_role(RoleName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as caught:
        iam.get_role(RoleName=name)
    assert caught.value.response["Error"]["Message"] == (
        f"The role with name {name} cannot be found."
    )
    for call in (
        lambda: iam.delete_role(RoleName=name),
        lambda: iam.list_role_policies(RoleName=name),
        lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=TRUST_ACCOUNT),
    ):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            call()


def test_role_session_duration_bounds(iam: Any, name: str) -> None:
    for bad in (3599, 43201):
        with pytest.raises(ClientError) as caught:
            iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT, MaxSessionDuration=bad
            )
        assert code_of(caught) == "ValidationError"


def test_deleting_a_role_revokes_its_sessions(running: RunningServer, iam: Any, name: str) -> None:
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]["Arn"]
    credentials = running.client("sts").assume_role(RoleArn=arn, RoleSessionName="sess")[
        "Credentials"
    ]
    sts = keyed(running, credentials, "sts")
    assert sts.get_caller_identity()["Arn"].endswith(f":assumed-role/{name}/sess")
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as caught:
        sts.get_caller_identity()
    assert code_of(caught) == "InvalidClientTokenId"


# --- STS ----------------------------------------------------------------------------------------


def test_caller_identity_of_root_user_and_sessions(
    running: RunningServer, iam: Any, name: str
) -> None:
    root = running.client("sts").get_caller_identity()
    assert (root["Arn"], root["UserId"], root["Account"]) == (
        f"arn:aws:iam::{ACCOUNT}:root",
        ACCOUNT,
        ACCOUNT,
    )
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = keyed(running, key, "sts").get_caller_identity()
    assert (as_user["Arn"], as_user["UserId"]) == (user["Arn"], user["UserId"])
    # GetSessionToken: temporary credentials that act as the user.
    session = keyed(running, key, "sts").get_session_token(DurationSeconds=900)["Credentials"]
    assert session["AccessKeyId"].startswith("ASIA")
    assert keyed(running, session, "sts").get_caller_identity()["Arn"] == user["Arn"]
    with pytest.raises(ClientError) as caught:
        keyed(running, session, "sts").get_session_token()
    assert code_of(caught) == "AccessDenied"
    root_session = running.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    assert keyed(running, root_session, "sts").get_caller_identity()["Arn"] == root["Arn"]
    with pytest.raises(ClientError) as caught:
        running.client("sts").get_session_token(DurationSeconds=7200)  # root: 1 hour at most
    assert code_of(caught) == "ValidationError"
    # Deleting the user ends its sessions too.
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as caught:
        keyed(running, session, "sts").get_caller_identity()
    assert code_of(caught) == "InvalidClientTokenId"


def test_a_user_needs_identity_permission_to_assume_a_role(
    running: RunningServer, iam: Any, name: str
) -> None:
    role_arn = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument=TRUST_ACCOUNT)[
        "Role"
    ]["Arn"]
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = keyed(running, key, "sts")
    with pytest.raises(ClientError) as caught:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")
    assert code_of(caught) == "AccessDenied"
    assert "sts:AssumeRole" in caught.value.response["Error"]["Message"]
    iam.put_user_policy(
        UserName=name,
        PolicyName="assume",
        PolicyDocument=policy(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}
        ),
    )
    assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="sess")["AssumedRoleUser"]
    assert assumed["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/r-{name}/sess"
    # A role that does not exist is refused the same way (nothing to learn from the error).
    with pytest.raises(ClientError) as caught:
        running.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/none-{name}", RoleSessionName="sess"
        )
    assert code_of(caught) == "AccessDenied"


def test_a_trust_policy_naming_someone_else_refuses(
    running: RunningServer, iam: Any, name: str
) -> None:
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone-else"},
            "Action": "sts:AssumeRole",
        }
    )
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    with pytest.raises(ClientError) as caught:
        running.client("sts").assume_role(RoleArn=arn, RoleSessionName="sess")
    assert code_of(caught) == "AccessDenied"
    assert status_of(caught) == 403


# --- persistence and secrets ---------------------------------------------------------------------


def test_state_survives_a_restart_and_tokens_are_not_stored(
    bellwire_server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first = bellwire_server_factory(data_dir=data_dir)
    iam = first.client("iam")
    iam.create_user(UserName="keeper")
    iam.put_user_policy(UserName="keeper", PolicyName="chime", PolicyDocument=ALLOW_ALL_CHIME)
    key = iam.create_access_key(UserName="keeper")["AccessKey"]
    role_arn = iam.create_role(RoleName="kept", AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName="kept", PolicyName="chime", PolicyDocument=ALLOW_ALL_CHIME)
    session = first.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="sess")[
        "Credentials"
    ]
    first.stop()

    assert data_dir.stat().st_mode & 0o777 == 0o700
    if first.settings.store:  # on PostgreSQL: every row of every table
        dump = repr(dump_store(first))
    else:
        db = data_dir / "bellwire.db"
        assert db.stat().st_mode & 0o777 == 0o600
        dump = "\n".join(sqlite3.connect(db).iterdump())
    assert key["SecretAccessKey"] in dump  # what is read is the store the server wrote
    assert session["SessionToken"] not in dump  # only its SHA-256 is kept

    second = bellwire_server_factory(data_dir=data_dir)
    keyed(second, key, "chime-sdk-identity").list_app_instances()
    keyed(second, session, "chime-sdk-identity").list_app_instances()
    assert second.client("iam").get_user_policy(UserName="keeper", PolicyName="chime")


def test_secrets_are_never_logged(
    running: RunningServer, iam: Any, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_ACCOUNT)["Role"]["Arn"]
    session = running.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="sess")[
        "Credentials"
    ]
    with pytest.raises(ClientError):
        keyed(running, session, "iam").list_users()
    server_records = [r for r in caplog.records if r.name.startswith("bellwire")]
    text = "\n".join(r.getMessage() for r in server_records)
    for secret in (key["SecretAccessKey"], session["SecretAccessKey"], session["SessionToken"]):
        assert secret not in text
