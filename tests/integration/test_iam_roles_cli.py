"""``bellwire iam`` role commands and ``assume-role`` against a running server: the README's
scoped-credentials recipe done from a shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bellwire.cli import main
from bellwire.testing import RunningServer

ACCOUNT = "123456789012"
OWN_USER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["chime:DescribeAppInstanceUser"],
            "Resource": "arn:aws:chime:*:*:app-instance/*/user/${aws:PrincipalTag/UserId}",
        }
    ],
}


@pytest.fixture(autouse=True)
def _no_root_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BELLWIRE_ROOT_ACCESS_KEY_ID",
        "BELLWIRE_ROOT_SECRET_ACCESS_KEY",
        "BELLWIRE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)


def iam_cli(server: RunningServer, *argv: str) -> int:
    return main(["iam", *argv, "--endpoint-url", server.url, "--data-dir", str(server.data_dir)])


def _out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_role_lifecycle_and_inline_policies(
    bellwire_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert iam_cli(bellwire_server, "create-role", "chat-user") == 0
    role = _out(capsys)
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/chat-user"
    # The default trust policy trusts this account.
    assert iam_cli(bellwire_server, "get-role", "chat-user") == 0
    trust = _out(capsys)["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}

    custom = tmp_path / "trust.json"
    custom.write_text(
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/backend"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
    )
    args = ["create-role", "backend-only", "--trust-policy", str(custom)]
    assert iam_cli(bellwire_server, *args, "--max-session-duration", "7200") == 0
    assert _out(capsys)["MaxSessionDuration"] == 7200

    assert iam_cli(bellwire_server, "list-roles") == 0
    assert sorted(r["RoleName"] for r in _out(capsys)) == ["backend-only", "chat-user"]

    policy = tmp_path / "own.json"
    policy.write_text(json.dumps(OWN_USER_POLICY))
    assert iam_cli(bellwire_server, "put-role-policy", "chat-user", "own", str(policy)) == 0
    assert "policy own set on role chat-user" in capsys.readouterr().out
    assert iam_cli(bellwire_server, "list-role-policies", "chat-user") == 0
    assert _out(capsys) == ["own"]
    assert iam_cli(bellwire_server, "get-role-policy", "chat-user", "own") == 0
    document = _out(capsys)
    document = json.loads(document) if isinstance(document, str) else document
    assert document == OWN_USER_POLICY

    # The server's own errors, on stderr, with a non-zero exit.
    assert iam_cli(bellwire_server, "delete-role", "chat-user") == 1
    assert "DeleteConflict" in capsys.readouterr().err
    assert iam_cli(bellwire_server, "delete-role-policy", "chat-user", "own") == 0
    assert iam_cli(bellwire_server, "delete-role", "chat-user") == 0
    capsys.readouterr()
    assert iam_cli(bellwire_server, "get-role", "chat-user") == 1
    assert "NoSuchEntity" in capsys.readouterr().err
    assert [r["RoleName"] for r in bellwire_server.client("iam").list_roles()["Roles"]] == [
        "backend-only"
    ]


def test_assume_role_prints_working_temporary_credentials(
    bellwire_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    identity = bellwire_server.client("chime-sdk-identity")
    app = identity.create_app_instance(Name="roles")["AppInstanceArn"]
    alice, bob = (
        identity.create_app_instance_user(AppInstanceArn=app, AppInstanceUserId=name, Name=name)[
            "AppInstanceUserArn"
        ]
        for name in ("alice", "bob")
    )
    policy = tmp_path / "own.json"
    policy.write_text(json.dumps(OWN_USER_POLICY))
    assert iam_cli(bellwire_server, "create-role", "chat-user") == 0
    assert iam_cli(bellwire_server, "put-role-policy", "chat-user", "own", str(policy)) == 0
    capsys.readouterr()

    # Export lines, from the real command line, as `eval "$(bellwire iam assume-role ...)"` reads them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
    argv = ["iam", "assume-role", "chat-user", "--tag", "UserId=alice"]
    argv += ["--session-name", "alice-session", "--endpoint-url", bellwire_server.url]
    argv += ["--data-dir", str(bellwire_server.data_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("export ")
    )
    assert exported["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert "assumed-role/chat-user/alice-session" in done.stdout
    as_alice = boto3.client(
        "chime-sdk-identity",
        endpoint_url=bellwire_server.url,
        region_name=exported["AWS_DEFAULT_REGION"],
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=exported["AWS_SESSION_TOKEN"],
    )
    assert as_alice.describe_app_instance_user(AppInstanceUserArn=alice)["AppInstanceUser"]
    with pytest.raises(ClientError) as caught:
        as_alice.describe_app_instance_user(AppInstanceUserArn=bob)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"

    # JSON, with a duration.
    args = ["assume-role", f"arn:aws:iam::{ACCOUNT}:role/chat-user", "--tag", "UserId=bob"]
    assert iam_cli(bellwire_server, *args, "--duration", "900", "--format", "json") == 0
    answer = _out(capsys)
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/chat-user/bellwire-cli")
    assert answer["Credentials"]["SessionToken"]

    # A role that does not exist is the server's AccessDenied, as in AWS.
    assert iam_cli(bellwire_server, "assume-role", "nobody") == 1
    assert "AccessDenied" in capsys.readouterr().err
