"""``bellwire iam ...`` against a running server, and [iam] declarations in the TOML config."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError

from bellwire.cli import main
from bellwire.testing import RunningServer

ACCOUNT = "123456789012"
CHIME_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": "chime:List*", "Resource": "*"},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": "chime:Delete*", "Resource": "*"},
    ],
}


@pytest.fixture(autouse=True)
def _no_root_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI must find the root keys in the data dir here, not in the developer's shell.
    for name in (
        "BELLWIRE_ROOT_ACCESS_KEY_ID",
        "BELLWIRE_ROOT_SECRET_ACCESS_KEY",
        "BELLWIRE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)


def iam_cli(server: RunningServer, *argv: str) -> int:
    where = ["--endpoint-url", server.url, "--data-dir", str(server.data_dir)]
    # The commands that read the database find it as the server does (its store setting).
    store = {"BELLWIRE_STORE": server.settings.store} if server.settings.store else {}
    with mock.patch.dict(os.environ, store):
        return main(["iam", *argv, *where])


def test_create_user_key_and_policy_through_the_running_server(
    bellwire_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert iam_cli(bellwire_server, "create-user", "ops") == 0
    user = json.loads(capsys.readouterr().out)
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ops"

    assert iam_cli(bellwire_server, "create-access-key", "ops") == 0
    key = json.loads(capsys.readouterr().out)
    assert key["AccessKeyId"].startswith("AKIA") and key["SecretAccessKey"]

    document = tmp_path / "policy.json"
    document.write_text(json.dumps(CHIME_POLICY))
    assert iam_cli(bellwire_server, "put-user-policy", "ops", "chime", str(document)) == 0
    capsys.readouterr()

    # The server's credential index saw all of it: the new key works, within its policy.
    identity = bellwire_server.client(
        "chime-sdk-identity",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    identity.list_app_instances()
    with pytest.raises(ClientError) as caught:
        identity.create_app_instance(Name="nope")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"

    # Errors are the server's, reported on stderr with a non-zero exit.
    assert iam_cli(bellwire_server, "create-user", "ops") == 1
    assert "EntityAlreadyExists" in capsys.readouterr().err
    document.write_text("{broken")
    assert iam_cli(bellwire_server, "put-user-policy", "ops", "chime", str(document)) == 1
    assert "MalformedPolicyDocument" in capsys.readouterr().err


def test_simulate_prints_the_deciding_statement(
    bellwire_server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = bellwire_server.client("iam")
    iam.create_user(UserName="sim")
    iam.put_user_policy(UserName="sim", PolicyName="chime", PolicyDocument=json.dumps(CHIME_POLICY))
    iam.create_role(
        RoleName="tagged",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="tagged",
        PolicyName="own",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "chime:Connect",
                        "Resource": "arn:aws:chime:*:*:app-instance/*/user/${aws:PrincipalTag/UserId}",
                    }
                ],
            }
        ),
    )
    channel = f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/a/channel/c"
    args = ["simulate", "--principal", "user/sim", "--resource", channel]

    assert iam_cli(bellwire_server, *args, "--action", "chime:ListChannelMessages") == 0
    out = capsys.readouterr().out
    assert "Allow: chime:ListChannelMessages" in out
    assert 'policy "chime" statement #0 (Sid "Read")' in out
    assert '"Sid": "Read"' in out  # the statement itself

    assert iam_cli(bellwire_server, *args, "--action", "chime:DeleteChannel") == 1
    out = capsys.readouterr().out
    assert "Deny: chime:DeleteChannel" in out and '"Sid": "NoDelete"' in out

    assert iam_cli(bellwire_server, *args, "--action", "chime:SendChannelMessage") == 1
    assert "ImplicitDeny" in capsys.readouterr().out

    alice = f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/a/user/alice"
    role = ["simulate", "--principal", f"arn:aws:iam::{ACCOUNT}:role/tagged"]
    role += ["--action", "chime:Connect", "--resource", alice]
    assert iam_cli(bellwire_server, *role, "--tag", "UserId=alice") == 0
    assert iam_cli(bellwire_server, *role, "--tag", "UserId=bob") == 1
    capsys.readouterr()
    assert (
        iam_cli(bellwire_server, "simulate", "--principal", "user/nobody", "--action", "x:y") == 2
    )
    assert "no user named nobody" in capsys.readouterr().err


# --- [iam] declarations -------------------------------------------------------------------------

DECLARED_KEY = "AKIADECLAREDBACKEND1"
DECLARED_SECRET = "declared-secret-for-the-backend-000000"


def _config(tmp_path: Path, port: int, secret: str = DECLARED_SECRET) -> Path:
    policy = json.dumps(CHIME_POLICY)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }
            ],
        }
    )
    path = tmp_path / "bellwire.toml"
    path.write_text(
        f"""
[server]
port = {port}
data_dir = "{tmp_path / "data"}"

[[iam.users]]
name = "backend"
access_keys = [{{ id = "{DECLARED_KEY}", secret = "{secret}" }}]
policies = {{ chime = '''{policy}''' }}

[[iam.roles]]
name = "ChatUser"
trust_policy = '''{trust}'''
max_session_duration = 7200

[iam.roles.policies.connect]
Version = "2012-10-17"
Statement = [{{ Effect = "Allow", Action = "chime:Connect", Resource = "*" }}]
"""
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(config: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWIRE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bellwire", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def _client(service: str, port: int, **kw: Any) -> Any:
    kw.setdefault("aws_access_key_id", DECLARED_KEY)
    kw.setdefault("aws_secret_access_key", DECLARED_SECRET)
    return boto3.client(
        service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", **kw
    )


@pytest.mark.slow
def test_declarations_are_applied_at_startup_idempotently(tmp_path: Path) -> None:
    port = _free_port()
    config = _config(tmp_path, port)
    for _ in range(2):  # the second start finds everything in place and changes nothing
        with serving(config, port) as process:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            identity = _client("chime-sdk-identity", port)
            identity.list_app_instances()  # allowed by the declared policy
            with pytest.raises(ClientError) as caught:
                identity.delete_app_instance(
                    AppInstanceArn=f"arn:aws:chime:us-east-1:{ACCOUNT}:app-instance/"
                    "00000000-0000-0000-0000-000000000000"
                )
            assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
            root = json.loads((tmp_path / "data" / "root-credentials.json").read_text())
            iam = _client(
                "iam",
                port,
                aws_access_key_id=root["AccessKeyId"],
                aws_secret_access_key=root["SecretAccessKey"],
            )
            role = iam.get_role(RoleName="ChatUser")["Role"]
            assert role["MaxSessionDuration"] == 7200
            assert iam.list_role_policies(RoleName="ChatUser")["PolicyNames"] == ["connect"]
            keys = iam.list_access_keys(UserName="backend")["AccessKeyMetadata"]
            assert [k["AccessKeyId"] for k in keys] == [DECLARED_KEY]

    # A declared key that exists with another secret stops the start, naming the problem.
    with serving(_config(tmp_path, port, secret="another-secret-entirely-0000"), port) as process:
        assert process.wait(30) == 2
        output = process.stdout.read() if process.stdout else ""
        assert f"access key {DECLARED_KEY} already exists" in output


def test_checkconfig_rejects_a_bad_iam_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[iam.users]]\nname = "has space"\n')
    assert main(["checkconfig", "--config", str(config)]) == 2
    assert "iam.users[0]" in capsys.readouterr().err
