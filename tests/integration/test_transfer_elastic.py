"""Elastic channels through ``bellwire export`` and ``bellwire import``: the channel's
configuration, its sub-channels, which sub-channel each membership and message is in.

A source server is populated with boto3 (two sub-channels, a moderator in both, messages in
each, one targeted), exported and imported with the commands users run, or imported from it
live (``--from-endpoint``), and the copy is read back with boto3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_transfer import export, import_file, without_header
from ws_helpers import World

from bellwire.cli import main
from bellwire.testing import RunningServer, start_server, temporary_database

CONFIG = {
    "MaximumSubChannels": 3,
    "TargetMembershipsPerSubChannel": 2,
    "MinimumMembershipPercentage": 10,
}

# The source is a data dir's SQLite file (one test imports into PostgreSQL).
pytestmark = pytest.mark.sqlite_only


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Any]]:
    """A server with an elastic channel of two sub-channels, and what the test needs of it."""
    running = start_server(tmp_path_factory.mktemp("elastic-source"))
    try:
        world = World.create(running, "elastic-export")
        mod = world.user()
        channel = world.channel(mod, ElasticChannelConfiguration=CONFIG)
        members = [world.user() for _ in range(3)]  # 2 per sub-channel: the third scales out
        for member in members:
            world.add(channel, member, mod)
        subs = [s["SubChannelId"] for s in sub_channels(running, channel, mod)]
        assert len(subs) == 2
        for sub in subs:
            world.messaging.create_channel_membership(
                ChannelArn=channel,
                MemberArn=mod,
                Type="DEFAULT",
                SubChannelId=sub,
                ChimeBearer=mod,
            )
        sent: dict[str, list[str]] = {sub: [] for sub in subs}
        for member in members:
            sub = where(running, channel, member, mod)
            world.send(channel, member, f"from {member[-6:]}", SubChannelId=sub)
            sent[sub].append(f"from {member[-6:]}")
        for sub in subs:
            world.send(channel, mod, f"moderating {sub}", SubChannelId=sub)
            sent[sub].append(f"moderating {sub}")
        # A whisper between the two members who share a sub-channel: neither the moderator nor
        # an admin sees it, only its sender and target.
        by_sub: dict[str, list[str]] = {}
        for member in members:
            by_sub.setdefault(where(running, channel, member, mod), []).append(member)
        shared, pair = next((sub, group) for sub, group in by_sub.items() if len(group) == 2)
        whisper = world.send(channel, pair[0], "just for you", target=pair[1], SubChannelId=shared)
        admin = world.user()
        world.admin(admin)  # what an import from the live endpoint reads as
        yield (
            running,
            {
                "channel": channel,
                "mod": mod,
                "members": members,
                "sent": sent,
                "admin": admin,
                "pair": pair,
                "shared": shared,
                "whisper": whisper,
            },
        )
    finally:
        running.stop()


def sub_channels(server: RunningServer, channel: str, bearer: str) -> list[dict[str, Any]]:
    m = server.client("chime-sdk-messaging")
    out: list[dict[str, Any]] = m.list_sub_channels(ChannelArn=channel, ChimeBearer=bearer)[
        "SubChannels"
    ]
    return out


def where(server: RunningServer, channel: str, member: str, bearer: str) -> str:
    m = server.client("chime-sdk-messaging")
    sub: str = m.describe_channel_membership(
        ChannelArn=channel, MemberArn=member, ChimeBearer=bearer
    )["ChannelMembership"]["SubChannelId"]
    return sub


def join_late(server: RunningServer, channel: str, by: str) -> list[str]:
    """Two new users join the channel (balancing places them); their ARNs, in that order."""
    identity = server.client("chime-sdk-identity")
    app = channel.partition("/channel/")[0]
    late = []
    for name in ("late-1", "late-2"):
        user: str = identity.create_app_instance_user(
            AppInstanceArn=app, AppInstanceUserId=name, Name=name
        )["AppInstanceUserArn"]
        server.client("chime-sdk-messaging").create_channel_membership(
            ChannelArn=channel, MemberArn=user, Type="DEFAULT", ChimeBearer=by
        )
        late.append(user)
    return late


def contents(server: RunningServer, channel: str, sub: str, bearer: str) -> list[str]:
    m = server.client("chime-sdk-messaging")
    listed = m.list_channel_messages(
        ChannelArn=channel, SubChannelId=sub, SortOrder="ASCENDING", ChimeBearer=bearer
    )["ChannelMessages"]
    return [x["Content"] for x in listed]


def test_an_elastic_channel_comes_back_with_each_message_in_its_sub_channel(
    source: tuple[RunningServer, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server, made = source
    channel, mod = made["channel"], made["mod"]
    records = export(server, tmp_path / "elastic.jsonl")
    assert [r["type"] for r in records].count("sub_channel") == 2

    target = tmp_path / "copy"
    assert import_file(tmp_path / "elastic.jsonl", target) == 0
    copy = start_server(target)
    try:
        m = copy.client("chime-sdk-messaging")
        described = m.describe_channel(ChannelArn=channel, ChimeBearer=mod)["Channel"]
        assert described["ElasticChannelConfiguration"] == CONFIG
        assert sub_channels(copy, channel, mod) == sub_channels(server, channel, mod)
        for sub, expected in made["sent"].items():
            assert contents(copy, channel, sub, mod) == expected, sub
        for member in made["members"]:
            assert where(copy, channel, member, mod) == where(server, channel, member, mod)
        # The imported counts are the ones balancing goes on from: a fourth member fills the
        # sub-channel of one, and a fifth opens a third.
        join_late(copy, channel, mod)
        counts = [s["MembershipCount"] for s in sub_channels(copy, channel, mod)]
        assert len(counts) == 3 and sum(counts) == 5 + 2  # members, and the moderator twice
    finally:
        copy.stop()
    # Nothing else is lost: a fresh copy exports the same file, line for line; importing the
    # file into it once more adds nothing.
    assert import_file(tmp_path / "elastic.jsonl", tmp_path / "twice") == 0
    capsys.readouterr()
    assert import_file(tmp_path / "elastic.jsonl", tmp_path / "twice") == 0
    report = capsys.readouterr().err
    assert "imported" not in report and "sub_channel: 2 present" in report, report
    twice = start_server(tmp_path / "twice")
    try:
        assert without_header(export(twice, tmp_path / "twice.jsonl")) == without_header(records)
    finally:
        twice.stop()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"SubChannelId": "not-a-sub-channel"},
            "the sub-channel not-a-sub-channel is not in the channel",
        ),
        # What an import of a hand-made (or version 1 style) record of an elastic channel gets.
        ({"SubChannelId": None}, "needs a SubChannelId: the channel"),
    ],
)
def test_a_message_in_a_sub_channel_the_channel_has_not_is_refused(
    source: tuple[RunningServer, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    expected: str,
) -> None:
    server, made = source
    records = export(server, tmp_path / "elastic.jsonl")
    first = next(i for i, r in enumerate(records) if r["type"] == "channel_message")
    records[first] = {k: v for k, v in {**records[first], **change}.items() if v is not None}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    capsys.readouterr()

    target = tmp_path / "target"
    assert import_file(bad, target) == 2
    err = capsys.readouterr().err
    assert f"bad.jsonl:{first + 1}: " in err and f"{expected} {made['channel']}" in err, err
    assert "Traceback" not in err
    # Everything before the line is imported and whole; nothing of the line or after it.
    copy = start_server(target)
    try:
        mod, channel = made["mod"], made["channel"]
        assert len(sub_channels(copy, channel, mod)) == 2
        for sub in made["sent"]:
            assert contents(copy, channel, sub, mod) == []
    finally:
        copy.stop()


def test_an_elastic_channel_is_imported_into_postgresql(
    source: tuple[RunningServer, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, made = source
    records = export(server, tmp_path / "elastic.jsonl")
    channel, mod = made["channel"], made["mod"]
    with temporary_database() as url:
        monkeypatch.setenv("BELLWIRE_STORE", url)
        assert main(["import", str(tmp_path / "elastic.jsonl"), "--progress", "never"]) == 0
        monkeypatch.delenv("BELLWIRE_STORE")
        copy = start_server(tmp_path / "pg", store=url)
        try:
            assert sub_channels(copy, channel, mod) == sub_channels(server, channel, mod)
            for sub, expected in made["sent"].items():
                assert contents(copy, channel, sub, mod) == expected, sub
        finally:
            copy.stop()
        monkeypatch.setenv("BELLWIRE_STORE", url)
        again = tmp_path / "again.jsonl"
        assert main(["export", "-o", str(again), "--progress", "never"]) == 0
    lines = [json.loads(line) for line in again.read_text("utf-8").splitlines()]
    assert without_header(lines) == without_header(records)


def listing(server: RunningServer, channel: str, sub: str, bearer: str) -> list[dict[str, Any]]:
    """A sub-channel's messages as ``bearer`` sees them, oldest first, every page."""
    m = server.client("chime-sdk-messaging")
    found: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while True:
        page = m.list_channel_messages(
            ChannelArn=channel,
            SubChannelId=sub,
            SortOrder="ASCENDING",
            ChimeBearer=bearer,
            MaxResults=2,  # several pages
            **token,
        )
        found += page["ChannelMessages"]
        if not page.get("NextToken"):
            return found
        token = {"NextToken": page["NextToken"]}


def test_an_elastic_channel_is_read_from_a_live_endpoint(
    source: tuple[RunningServer, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, made = source
    channel, mod, admin = made["channel"], made["mod"], made["admin"]
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    target = tmp_path / "copy"
    argv = ["import", "--from-endpoint", server.url, "--region", server.region]
    argv += ["--targeted-messages", "--data-dir", str(target), "--progress", "never"]
    capsys.readouterr()
    assert main(argv) == 0
    report = capsys.readouterr().err
    assert "sub_channel: 2 imported" in report and "not copied" not in report, report

    copy = start_server(target)
    try:
        m = copy.client("chime-sdk-messaging")
        described = m.describe_channel(ChannelArn=channel, ChimeBearer=admin)["Channel"]
        assert described["ElasticChannelConfiguration"] == CONFIG
        # The same sub-channels, in the same order, with the same counts.
        subs = sub_channels(server, channel, mod)
        assert sub_channels(copy, channel, mod) == subs
        for sub in [s["SubChannelId"] for s in subs]:
            # Each sub-channel's messages, ids, timestamps and order included, as the admin and
            # as each of its members (the whisper to its sender and target only).
            readers = [admin, mod] + [
                x for x in made["members"] if where(server, channel, x, mod) == sub
            ]
            for reader in readers:
                assert listing(copy, channel, sub, reader) == listing(server, channel, sub, reader)
            for member in readers[1:]:  # the moderator has a membership in each
                on = {"ChannelArn": channel, "SubChannelId": sub, "ChimeBearer": admin}
                got = m.describe_channel_membership(MemberArn=member, **on)["ChannelMembership"]
                assert got["SubChannelId"] == sub
                assert (
                    got
                    == server.client("chime-sdk-messaging").describe_channel_membership(
                        MemberArn=member, **on
                    )["ChannelMembership"]
                )
        whispered = listing(copy, channel, made["shared"], made["pair"][1])
        assert made["whisper"] in [x["MessageId"] for x in whispered]
        for member in made["members"]:
            assert where(copy, channel, member, mod) == where(server, channel, member, mod)
        # Balancing goes on from the imported loads: a fourth member goes to the sub-channel
        # with room, a fifth opens a third.
        counts = {s["SubChannelId"]: s["MembershipCount"] for s in subs}
        roomy = min(counts, key=lambda sub: counts[sub])
        late = join_late(copy, channel, mod)
        assert where(copy, channel, late[0], mod) == roomy
        after = sub_channels(copy, channel, mod)
        assert len(after) == 3 and after[:2] == [
            {"SubChannelId": s["SubChannelId"], "MembershipCount": 3} for s in subs
        ]
    finally:
        copy.stop()
