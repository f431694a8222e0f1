"""A TLS bellwire with a throw-away CA, and a small world of users made through boto3.

Shared by the interop suites, so the JavaScript clients and the Python client are held to the
same scenarios against the same kind of server.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from bellwire.testing import RunningServer


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: the JavaScript interop suite needs Node 20+ and npm")
    return path


# --- a test CA ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [tool("openssl"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def make_test_ca(directory: Path) -> Tls:
    """A CA and a server certificate for localhost and 127.0.0.1 signed by it (P-256, 2 days)."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=bellwire interop test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=localhost",
        cwd=directory,
    )  # fmt: skip
    (directory / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", f"0x{uuid.uuid4().hex}", "-days", "2",
        "-extfile", "server.ext", "-out", "server.pem",
        cwd=directory,
    )  # fmt: skip
    return Tls(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")


def boto(running: RunningServer, tls: Tls, service: str) -> Any:
    return boto3.client(service, **running.boto3_kwargs(verify=str(tls.ca)))


@dataclass
class World:
    """An app instance with users on one server, made through boto3."""

    app: str
    identity: Any
    messaging: Any
    users: dict[str, str] = field(default_factory=dict)

    def user(self, user_id: str) -> str:
        arn: str = self.identity.create_app_instance_user(
            AppInstanceArn=self.app, AppInstanceUserId=user_id, Name=user_id.capitalize()
        )["AppInstanceUserArn"]
        self.users[user_id] = arn
        return arn

    def channel(self, creator: str, *members: str, name: str = "") -> str:
        arn: str = self.messaging.create_channel(
            AppInstanceArn=self.app, Name=name or f"ch-{uuid.uuid4().hex[:8]}", ChimeBearer=creator
        )["ChannelArn"]
        for member in members:
            self.messaging.create_channel_membership(
                ChannelArn=arn, MemberArn=member, Type="DEFAULT", ChimeBearer=creator
            )
        return arn

    def close(self) -> None:
        self.identity.close()
        self.messaging.close()

    def send(self, channel: str, sender: str, content: str, **kwargs: Any) -> str:
        kwargs.setdefault("Type", "STANDARD")
        kwargs.setdefault("Persistence", "PERSISTENT")
        message_id: str = self.messaging.send_channel_message(
            ChannelArn=channel, ChimeBearer=sender, Content=content, **kwargs
        )["MessageId"]
        return message_id


def make_world(running: RunningServer, tls: Tls) -> World:
    identity = boto(running, tls, "chime-sdk-identity")
    messaging = boto(running, tls, "chime-sdk-messaging")
    app = identity.create_app_instance(Name=f"interop-{uuid.uuid4().hex[:8]}")["AppInstanceArn"]
    world = World(app, identity, messaging)
    world.user("alice")
    world.user("bob")
    return world


# --- scenario c, shared by both suites --------------------------------------------------------------


def prefetch_world(world: World) -> list[str]:
    """Alice's three channels, each with one message ``m<index>``, beside a channel she is not in;
    returns hers."""
    alice, bob = world.users["alice"], world.users["bob"]
    mine = [
        world.channel(alice, name="one"),
        world.channel(alice, bob, name="two"),
        world.channel(bob, alice, name="three"),
    ]
    others = world.channel(bob, name="not-alices")
    for index, channel in enumerate([*mine, others]):
        world.send(channel, bob if channel in (mine[2], others) else alice, f"m{index}")
    return mine


def check_channel_details(bodies: list[dict[str, Any]], mine: list[str], reader: str) -> None:
    """Exactly one CHANNEL_DETAILS per channel of the reader, each with its message and members."""
    seen: list[str] = []
    for body in bodies:
        assert {"Channel", "ChannelMessages", "ChannelMemberships"} <= set(body), body
        channel = body["Channel"]["ChannelArn"]
        seen.append(channel)
        assert channel in mine, f"CHANNEL_DETAILS for a channel the reader is not in: {channel}"
        assert [m["Content"] for m in body["ChannelMessages"]] == [f"m{mine.index(channel)}"]
        assert body.get("ChannelMessagesHasMore") is False, body
        assert reader in {m["Member"]["Arn"] for m in body["ChannelMemberships"]}
    assert sorted(seen) == sorted(mine), "exactly one CHANNEL_DETAILS per channel of the user"
