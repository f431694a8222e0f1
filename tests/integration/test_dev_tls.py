"""``--dev-tls``: the server makes its CA and certificate, and real clients that trust the CA
(boto3 through ``AWS_CA_BUNDLE``'s ``verify``, a wss client) talk to it; others refuse it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import botocore.exceptions
import pytest
from websockets.asyncio.client import connect

from bellwire.aws.sigv4 import presign_connect_url
from bellwire.events import EventType, decode
from bellwire.testing import RunningServer, start_server


def wss_url(running: RunningServer, user_arn: str) -> str:
    return presign_connect_url(
        host=running.endpoint_host,
        access_key_id=running.access_key_id,
        secret_access_key=running.secret_access_key,
        session_token=None,
        region=running.region,
        params={"userArn": user_arn, "sessionId": "1"},
        now=datetime.now(UTC),
        scheme="wss",
    )


async def test_boto3_and_a_wss_client_trust_the_dev_ca(tmp_path: Path) -> None:
    running = start_server(tmp_path, dev_tls=True)
    try:
        ca = tmp_path / "dev-tls" / "ca.pem"
        assert running.url.startswith("https://127.0.0.1:")
        identity = running.client("chime-sdk-identity", verify=str(ca))
        app = identity.create_app_instance(Name="devtls")["AppInstanceArn"]
        user = identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId="u", Name="U"
        )["AppInstanceUserArn"]
        identity.close()

        trusting = ssl.create_default_context(cafile=str(ca))
        async with connect(wss_url(running, user), ssl=trusting, proxy=None) as ws:
            first = decode(await ws.recv())
            assert first.type == EventType.SESSION_ESTABLISHED

        # Without the CA, the certificate is not trusted: the clients do verify.
        default = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError):
            async with connect(wss_url(running, user), ssl=default, proxy=None):
                pass
        stranger = running.client("chime-sdk-identity", verify=True)
        with pytest.raises(botocore.exceptions.SSLError):
            stranger.list_app_instances()
        stranger.close()
    finally:
        running.stop()


def test_a_restart_keeps_the_ca_the_clients_trust(tmp_path: Path) -> None:
    first = start_server(tmp_path, dev_tls=True)
    first.stop()
    ca = (tmp_path / "dev-tls" / "ca.pem").read_bytes()
    second = start_server(tmp_path, dev_tls=True)
    try:
        assert (tmp_path / "dev-tls" / "ca.pem").read_bytes() == ca
        client = second.client("chime-sdk-identity", verify=str(tmp_path / "dev-tls" / "ca.pem"))
        assert client.list_app_instances()["AppInstances"] == []
        client.close()
    finally:
        second.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_dev_tls_prints_how_to_trust_the_ca_on_first_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BELLWIRE_", "AWS_"))}
    port = free_port()
    command = [sys.executable, "-m", "bellwire", "serve", "--dev-tls"]
    command += ["--port", str(port), "--data-dir", str(tmp_path / "data")]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        ca = tmp_path / "data" / "dev-tls" / "ca.pem"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if ca.exists():
                context = ssl.create_default_context(cafile=str(ca))
                try:
                    with (
                        socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
                        context.wrap_socket(raw, server_hostname="localhost"),
                    ):
                        break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            pytest.fail(f"the server did not serve TLS:\n{proc.communicate(timeout=5)[0]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # The SIGTERM lands right after the first handshake, often before startup has finished
    # printing: it must still drain (exit 0) and let the instructions out.
    assert proc.returncode == 0, out
    assert f"export NODE_EXTRA_CA_CERTS={ca}" in out, out
    assert f"AWS_CA_BUNDLE={ca}" in out, out
    assert f"https://127.0.0.1:{port}" in out, out


def test_dev_tls_refuses_a_host_it_cannot_certify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bellwire import cli

    code = cli.main(
        ["serve", "--dev-tls", "--public-endpoint", "chat.example.com:443",
         "--data-dir", str(tmp_path), "--port", "0"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot start" in err and "chat.example.com" in err and "--tls-cert" in err, err
    assert not (tmp_path / "dev-tls" / "ca.pem").exists()


def test_iam_cli_trusts_the_data_dirs_dev_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bellwire import cli

    for name in ("AWS_CA_BUNDLE", "BELLWIRE_CONFIG", "BELLWIRE_ROOT_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BELLWIRE_DEV_TLS", "true")
    running = start_server(tmp_path, dev_tls=True)
    try:
        where = ["--endpoint-url", running.url, "--data-dir", str(tmp_path)]
        assert cli.main(["iam", "create-user", "ops", *where]) == 0, capsys.readouterr().err
        assert '"UserName": "ops"' in capsys.readouterr().out
    finally:
        running.stop()
