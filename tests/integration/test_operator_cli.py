"""``bellwire sessions list`` (``GET /admin/sessions``) and ``bellwire listen``'s at-once
failures, against a real server with real clients."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest

from bellwire.api.admin import format_sessions, list_sessions
from bellwire.cli import main
from bellwire.client import Established, MessagingSession
from bellwire.testing import RunningServer, start_server

SETTINGS: dict[str, Any] = {"connects_per_user_per_second": 1000.0, "connect_burst": 1000}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("bellwire"), **SETTINGS)
    try:
        yield running
    finally:
        running.stop()


def _root(running: RunningServer) -> botocore.session.Session:
    session = botocore.session.Session()
    session.set_credentials(running.access_key_id, running.secret_access_key)
    return session


def _session(running: RunningServer, user_arn: str) -> MessagingSession:
    return MessagingSession(
        user_arn, boto_session=_root(running), region=running.region, endpoint_url=running.url
    )


def _env(running: RunningServer | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BELLWIRE_"))}
    env.update(AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    # No instance metadata lookups for credentials on a machine without any.
    env.update(AWS_EC2_METADATA_DISABLED="true")
    if running is not None:
        env.update(
            AWS_ACCESS_KEY_ID=running.access_key_id,
            AWS_SECRET_ACCESS_KEY=running.secret_access_key,
            AWS_DEFAULT_REGION=running.region,
        )
    env.update(extra)
    return env


# --- sessions list -----------------------------------------------------------------------------


async def test_sessions_list_shows_who_is_connected(
    app: Any, server: RunningServer, watch: Any
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    alice = watch(_session(server, app.alice))
    bob = watch(_session(server, app.bob))
    await alice.next(Established)
    await bob.next(Established)
    ids = {alice.session.session_id: app.alice, bob.session.session_id: app.bob}

    listed = await _cli(server, "sessions", "list", "--json")
    mine = [s for s in json.loads(listed) if s["UserArn"] in (app.alice, app.bob)]
    assert {s["SessionId"]: s["UserArn"] for s in mine} == ids
    for s in mine:
        assert before <= datetime.fromisoformat(s["ConnectedSince"]) <= datetime.now(UTC)
        assert s["Established"] is True
        assert isinstance(s["BufferedBytes"], int) and s["BufferedBytes"] >= 0

    table = await _cli(server, "sessions", "list", "--user-arn", app.alice)
    lines = table.splitlines()
    assert lines[0].split() == [
        "CONNECTED",
        "SINCE",
        "BUFFERED",
        "NODE",
        "SESSION",
        "ID",
        "USER",
        "ARN",
    ]
    assert len(lines) == 2
    assert alice.session.session_id in lines[1] and lines[1].endswith(app.alice)

    # After a stop, the session is gone from the list.
    await alice.session.stop()
    remaining = list_sessions(
        server.url, app.alice, boto_session=_root(server), region=server.region
    )
    assert remaining == []


async def _cli(server: RunningServer, *argv: str) -> str:
    import asyncio

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bellwire",
        *argv,
        "--endpoint-url",
        server.url,
        env=_env(server),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


def test_sessions_list_is_authorized_and_validated(
    app: Any,
    server: RunningServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="no-admin")
    key = iam.create_access_key(UserName="no-admin")["AccessKey"]
    outsider = botocore.session.Session()
    outsider.set_credentials(key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(RuntimeError, match=r"HTTP 403: .*bellwire:ListSessions"):
        list_sessions(server.url, boto_session=outsider, region=server.region)

    iam.put_user_policy(
        UserName="no-admin",
        PolicyName="list-alice",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "bellwire:ListSessions", "Resource": app.alice}
                ],
            }
        ),
    )
    assert list_sessions(server.url, app.alice, boto_session=outsider, region=server.region) == []
    with pytest.raises(RuntimeError, match="HTTP 403"):
        list_sessions(server.url, app.bob, boto_session=outsider, region=server.region)

    with pytest.raises(RuntimeError, match="HTTP 400"):
        list_sessions(server.url, "", boto_session=_root(server), region=server.region)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    assert main(["sessions", "list", "--endpoint-url", server.url, "--region", "us-east-1"]) == 1
    assert "cannot list sessions: HTTP 403" in capsys.readouterr().err


def test_sessions_table_format() -> None:
    table = format_sessions(
        [
            {
                "UserArn": "arn:u/alice",
                "SessionId": "s-1",
                "ConnectedSince": "2026-01-02T03:04:05.678+00:00",
                "Established": True,
                "BufferedBytes": 12,
                "Node": "host-a (pid 7)",
            },
            {
                "UserArn": "arn:u/bob",
                "SessionId": "s-22",
                "ConnectedSince": "2026-01-02T03:04:06.000+00:00",
                "Established": False,
                "BufferedBytes": 0,
                "Node": "host-b (pid 12)",
            },
        ]
    )
    assert table.splitlines() == [
        "CONNECTED SINCE                BUFFERED  NODE             SESSION ID         USER ARN",
        "2026-01-02T03:04:05.678+00:00  12        host-a (pid 7)   s-1                arn:u/alice",
        "2026-01-02T03:04:06.000+00:00  0         host-b (pid 12)  s-22 (connecting)  arn:u/bob",
    ]


# --- bellwire listen fails at once on a configuration that cannot work --------------------------


def _listen(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    user = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/alice"
    return subprocess.run(
        [sys.executable, "-m", "bellwire", "listen", "--user-arn", user, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no region", "no AWS region; fix: pass --region us-east-1"),
        ("no credentials", "no AWS credentials; fix: export AWS_ACCESS_KEY_ID"),
        ("no server there", "cannot reach http://127.0.0.1:"),
        ("not a URL", "Invalid endpoint: 127.0.0.1:8080; fix: give a URL with a scheme"),
        ("wrong secret", "refused the lookup (InvalidSignatureException"),
    ],
)
def test_listen_fails_at_once_with_the_fix(server: RunningServer, case: str, expected: str) -> None:
    env = _env(server)
    endpoint = server.url
    if case == "no region":
        del env["AWS_DEFAULT_REGION"]
    elif case == "no credentials":
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    elif case == "no server there":
        endpoint = f"http://127.0.0.1:{_closed_port()}"
    elif case == "not a URL":
        endpoint = "127.0.0.1:8080"
    elif case == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    done = _listen(env, "--endpoint-url", endpoint)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no retries
    assert done.stderr.startswith("bellwire listen: ") and expected in done.stderr, done.stderr
    assert done.stdout == ""
