"""``bellwire backup``: a consistent copy of a running server's database while boto3 writes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bellwire.cli import main
from bellwire.testing import RunningServer

# These read and write the data dir's SQLite file; on PostgreSQL: test_transfer_postgres.py.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BELLWIRE_ROOT_ACCESS_KEY_ID",
        "BELLWIRE_ROOT_SECRET_ACCESS_KEY",
        "BELLWIRE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)


def _messages(server: RunningServer, channel: str, bearer: str) -> list[str]:
    messaging = server.client("chime-sdk-messaging")
    ids: list[str] = []
    token = None
    while True:
        page = messaging.list_channel_messages(
            ChannelArn=channel,
            ChimeBearer=bearer,
            SortOrder="ASCENDING",
            MaxResults=50,
            **({"NextToken": token} if token else {}),
        )
        ids += [m["MessageId"] for m in page["ChannelMessages"]]
        token = page.get("NextToken")
        if not token:
            return ids


def test_a_backup_taken_while_writing_serves_every_acknowledged_write(
    bellwire_server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = bellwire_server_factory()
    identity = server.client("chime-sdk-identity")
    messaging = server.client("chime-sdk-messaging")
    app = identity.create_app_instance(Name="busy")["AppInstanceArn"]
    alice = identity.create_app_instance_user(
        AppInstanceArn=app, AppInstanceUserId="alice", Name="Alice"
    )["AppInstanceUserArn"]
    channels = [
        messaging.create_channel(AppInstanceArn=app, Name=f"c{i}", ChimeBearer=alice)["ChannelArn"]
        for i in range(2)
    ]
    # Each writer sends to its own channel, one message after the other, and records each
    # message once its 2xx arrived (acknowledged means committed).
    acked: dict[str, list[str]] = {c: [] for c in channels}
    stop = threading.Event()
    failures: list[BaseException] = []

    def write(channel: str) -> None:
        client = server.client("chime-sdk-messaging")
        n = 0
        try:
            while not stop.is_set():
                answer = client.send_channel_message(
                    ChannelArn=channel,
                    ChimeBearer=alice,
                    Content=f"message {n} " + "x" * 2000,
                    Type="STANDARD",
                    Persistence="PERSISTENT",
                )
                acked[channel].append(answer["MessageId"])
                n += 1
        except BaseException as exc:
            failures.append(exc)

    writers = [threading.Thread(target=write, args=(c,)) for c in channels]
    for w in writers:
        w.start()
    try:
        while min(len(ids) for ids in acked.values()) < 30 and not failures:
            stop.wait(0.01)
        before = {c: list(ids) for c, ids in acked.items()}
        dest = tmp_path / "backup"
        code = main(["backup", str(dest), "--data-dir", str(server.data_dir)])
        after_backup = {c: len(ids) for c, ids in acked.items()}
        # Go on writing a while after the copy, too.
        while min(len(acked[c]) - after_backup[c] for c in channels) < 10 and not failures:
            stop.wait(0.01)
    finally:
        stop.set()
        for w in writers:
            w.join(30)
    assert not failures, failures
    assert code == 0

    db = dest / "bellwire.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    for name in ("bellwire.db", "root-credentials.json"):
        assert (dest / name).stat().st_mode & 0o777 == 0o600, name
    assert dest.stat().st_mode & 0o777 == 0o700

    restored = bellwire_server_factory(data_dir=dest)
    assert (restored.access_key_id, restored.secret_access_key) == (
        server.access_key_id,
        server.secret_access_key,
    )
    for channel in channels:
        copied = _messages(restored, channel, alice)
        # Every write acknowledged before the backup began is there ...
        assert copied[: len(before[channel])] == before[channel]
        # ... and the copy is one moment of the database: a prefix of each writer's sends.
        assert copied == acked[channel][: len(copied)]
        assert len(copied) < len(acked[channel])  # the source went on after the copy
    # The copy is a working data dir.
    restored.client("chime-sdk-messaging").send_channel_message(
        ChannelArn=channels[0],
        ChimeBearer=alice,
        Content="after restore",
        Type="STANDARD",
        Persistence="PERSISTENT",
    )


def test_backup_keeps_an_existing_copy_unless_forced(
    bellwire_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "copy"
    argv = ["backup", str(dest), "--data-dir", str(bellwire_server.data_dir)]
    assert main(argv) == 0
    first = (dest / "bellwire.db").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 2
    assert "pass --force to replace it" in capsys.readouterr().err
    assert (dest / "bellwire.db").stat().st_mtime_ns == first
    assert main([*argv, "--force"]) == 0
    assert not list(dest.glob("*.partial"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "{tmp}/out", "--data-dir", "{tmp}/nothing"], "no database at"),
        (["export", "--data-dir", "{tmp}/nothing"], "no database at"),
    ],
)
def test_a_missing_data_dir_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err: Any = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
