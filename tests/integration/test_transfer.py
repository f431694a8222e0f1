"""``bellwire export`` and ``bellwire import``: real servers over loopback, compared through boto3.

A source server is populated through the APIs (users, channels of every mode and privacy,
memberships of both types, moderators, bans, messages edited, redacted, deleted and targeted,
read markers, preferences, metadata, tags, IAM). Copies are made by export -> import and by
reading the live source through boto3; each copy is served by a new server and every
List/Describe answer of both is compared, ids and timestamps included.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bellwire.cli import main
from bellwire.testing import RunningServer, start_server
from bellwire.transfer import importer
from bellwire.transfer.database import Target
from bellwire.transfer.progress import Progress

POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "chime:List*", "Resource": "*"}],
    }
)
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ],
    }
)

# These read and write the data dir's SQLite file; on PostgreSQL: test_transfer_postgres.py.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "BELLWIRE_ROOT_ACCESS_KEY_ID",
        "BELLWIRE_ROOT_SECRET_ACCESS_KEY",
        "BELLWIRE_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    # The live-endpoint import signs with the usual credential chain: only what a test sets.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


# --- the source ----------------------------------------------------------------------------------


class Shop:
    """An app instance with users alice, bob, carol, dave and admin (an AppInstanceAdmin)."""

    def __init__(self, identity: Any, messaging: Any, name: str) -> None:
        self.identity, self.messaging = identity, messaging
        self.arn = identity.create_app_instance(Name=name)["AppInstanceArn"]
        for user_id in ("alice", "bob", "carol", "dave", "admin"):
            arn = identity.create_app_instance_user(
                AppInstanceArn=self.arn, AppInstanceUserId=user_id, Name=user_id.capitalize()
            )["AppInstanceUserArn"]
            setattr(self, user_id, arn)
        identity.create_app_instance_admin(AppInstanceArn=self.arn, AppInstanceAdminArn=self.admin)

    alice: str
    bob: str
    carol: str
    dave: str
    admin: str

    def channel(self, **kwargs: Any) -> str:
        arn: str = self.messaging.create_channel(
            AppInstanceArn=self.arn, ChimeBearer=self.alice, **kwargs
        )["ChannelArn"]
        return arn

    def add(self, channel: str, member: str, type_: str = "DEFAULT") -> None:
        self.messaging.create_channel_membership(
            ChannelArn=channel, MemberArn=member, Type=type_, ChimeBearer=self.alice
        )

    def send(self, channel: str, sender: str, content: str, **kwargs: Any) -> str:
        kwargs.setdefault("Type", "STANDARD")
        kwargs.setdefault("Persistence", "PERSISTENT")
        message_id: str = self.messaging.send_channel_message(
            ChannelArn=channel, ChimeBearer=sender, Content=content, **kwargs
        )["MessageId"]
        return message_id


def populate(server: RunningServer) -> dict[str, Any]:
    identity = server.client("chime-sdk-identity")
    messaging = server.client("chime-sdk-messaging")
    iam = server.client("iam")
    app = Shop(identity, messaging, "shop")
    identity.update_app_instance(AppInstanceArn=app.arn, Name="shop", Metadata='{"tier":"gold"}')
    identity.tag_resource(ResourceARN=app.arn, Tags=[{"Key": "env", "Value": "test"}])
    identity.put_app_instance_retention_settings(
        AppInstanceArn=app.arn,
        AppInstanceRetentionSettings={"ChannelRetentionSettings": {"RetentionDays": 30}},
    )
    erin = identity.create_app_instance_user(
        AppInstanceArn=app.arn,
        AppInstanceUserId="erin",
        Name="Erin",
        Metadata="vip",
        Tags=[{"Key": "team", "Value": "blue"}],
        ExpirationSettings={"ExpirationDays": 90, "ExpirationCriterion": "CREATED_TIMESTAMP"},
    )["AppInstanceUserArn"]
    identity.update_app_instance_user(AppInstanceUserArn=app.bob, Name="Robert", Metadata="m")
    channels: dict[str, str] = {}
    for mode in ("UNRESTRICTED", "RESTRICTED"):
        for privacy in ("PUBLIC", "PRIVATE"):
            channels[f"{mode}-{privacy}"] = app.channel(
                Name=f"{mode.lower()} {privacy.lower()}",
                Mode=mode,
                Privacy=privacy,
                Metadata=f"{mode}/{privacy}",
                MemberArns=[app.bob, app.carol],
            )
    general = channels["UNRESTRICTED-PUBLIC"]
    secret = channels["RESTRICTED-PRIVATE"]
    messaging.tag_resource(ResourceARN=general, Tags=[{"Key": "topic", "Value": "chat"}])
    messaging.put_channel_expiration_settings(
        ChannelArn=secret,
        ChimeBearer=app.alice,
        ExpirationSettings={"ExpirationDays": 10, "ExpirationCriterion": "LAST_MESSAGE_TIMESTAMP"},
    )
    messaging.update_channel(
        ChannelArn=general, ChimeBearer=app.alice, Name="general", Mode="UNRESTRICTED", Metadata="x"
    )
    app.add(general, app.dave, type_="HIDDEN")
    app.add(general, erin)
    messaging.create_channel_moderator(
        ChannelArn=general, ChannelModeratorArn=app.bob, ChimeBearer=app.alice
    )
    messaging.create_channel_ban(ChannelArn=secret, MemberArn=app.dave, ChimeBearer=app.alice)
    sent = [app.send(general, app.alice, f"message {i}") for i in range(7)]
    app.send(
        general,
        app.bob,
        "with everything",
        Metadata="meta",
        ContentType="text/markdown",
        MessageAttributes={"lang": {"StringValues": ["en", "fr"]}},
    )
    app.send(general, app.carol, "ping", Type="CONTROL")
    app.send(general, app.alice, "for bob only", Target=[{"MemberArn": app.bob}])
    app.send(general, app.carol, "after the whisper")
    app.send(general, app.alice, "gone", Persistence="NON_PERSISTENT")
    messaging.update_channel_message(
        ChannelArn=general, MessageId=sent[1], Content="edited", Metadata="e", ChimeBearer=app.alice
    )
    messaging.redact_channel_message(ChannelArn=general, MessageId=sent[2], ChimeBearer=app.alice)
    messaging.delete_channel_message(ChannelArn=general, MessageId=sent[3], ChimeBearer=app.admin)
    app.send(secret, app.bob, "psst")
    messaging.update_channel_read_marker(ChannelArn=general, ChimeBearer=app.bob)
    messaging.put_channel_membership_preferences(
        ChannelArn=general,
        MemberArn=app.carol,
        ChimeBearer=app.carol,
        Preferences={"PushNotifications": {"AllowNotifications": "FILTERED", "FilterRule": "{}"}},
    )
    small = Shop(identity, messaging, "second")
    small.send(small.channel(Name="solo"), small.alice, "hi")

    iam.create_user(UserName="ops", Path="/team/", Tags=[{"Key": "k", "Value": "v"}])
    iam.put_user_policy(UserName="ops", PolicyName="read", PolicyDocument=POLICY)
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    iam.create_role(
        RoleName="chat-user", AssumeRolePolicyDocument=TRUST, Description="per-user role"
    )
    iam.put_role_policy(RoleName="chat-user", PolicyName="chat", PolicyDocument=POLICY)
    return {"apps": [app, small], "general": general, "sent": sent, "key": key}


@pytest.fixture(scope="module")
def source(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, dict[str, Any]]]:
    running = start_server(tmp_path_factory.mktemp("source"))
    try:
        yield running, populate(running)
    finally:
        running.stop()


# --- comparing two servers through boto3 ---------------------------------------------------------


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _all(call: Callable[..., Any], key: str, **params: Any) -> list[Any]:
    items: list[Any] = []
    token = None
    while True:
        page = call(**params, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def api_view(server: RunningServer, *, readers: str = "admin", keys: bool = True) -> dict[str, Any]:
    """Everything the Chime and IAM APIs show of a server, as root and as app users.

    ``readers="all"`` also lists each channel's messages as every member (targeted messages
    appear only to their sender and target)."""
    identity = server.client("chime-sdk-identity")
    messaging = server.client("chime-sdk-messaging")
    iam = server.client("iam")
    view: dict[str, Any] = {}
    apps = _all(identity.list_app_instances, "AppInstances")
    view["apps"] = apps
    for a in apps:
        arn = a["AppInstanceArn"]
        view[arn] = {
            "describe": identity.describe_app_instance(AppInstanceArn=arn),
            "retention": identity.get_app_instance_retention_settings(AppInstanceArn=arn),
            "tags": identity.list_tags_for_resource(ResourceARN=arn),
        }
        users = _all(identity.list_app_instance_users, "AppInstanceUsers", AppInstanceArn=arn)
        view[arn]["users"] = users
        for u in users:
            user = u["AppInstanceUserArn"]
            view[user] = {
                "describe": identity.describe_app_instance_user(AppInstanceUserArn=user),
                "tags": identity.list_tags_for_resource(ResourceARN=user),
            }
        admins = _all(identity.list_app_instance_admins, "AppInstanceAdmins", AppInstanceArn=arn)
        view[arn]["admins"] = admins
        for ad in admins:
            view[arn][ad["Admin"]["Arn"]] = identity.describe_app_instance_admin(
                AppInstanceArn=arn, AppInstanceAdminArn=ad["Admin"]["Arn"]
            )
        bearer = admins[0]["Admin"]["Arn"]
        channels = []
        for privacy in ("PUBLIC", "PRIVATE"):
            channels += _all(
                messaging.list_channels,
                "Channels",
                AppInstanceArn=arn,
                ChimeBearer=bearer,
                Privacy=privacy,
            )
        view[arn]["channels"] = channels
        for u in users:
            user = u["AppInstanceUserArn"]
            view[user]["memberships"] = _all(
                messaging.list_channel_memberships_for_app_instance_user,
                "ChannelMemberships",
                AppInstanceUserArn=user,
                ChimeBearer=user,
            )
            view[user]["moderates"] = _all(
                messaging.list_channels_moderated_by_app_instance_user,
                "Channels",
                ChimeBearer=user,
            )
        for c in channels:
            ch = c["ChannelArn"]
            on = {"ChannelArn": ch, "ChimeBearer": bearer}
            entry: dict[str, Any] = {
                "describe": messaging.describe_channel(**on),
                "tags": messaging.list_tags_for_resource(ResourceARN=ch),
                "moderators": _all(messaging.list_channel_moderators, "ChannelModerators", **on),
                "bans": _all(messaging.list_channel_bans, "ChannelBans", **on),
            }
            members = []
            for type_ in ("DEFAULT", "HIDDEN"):
                members += _all(
                    messaging.list_channel_memberships, "ChannelMemberships", Type=type_, **on
                )
            entry["members"] = members
            for m in members:
                who = m["Member"]["Arn"]
                entry[who] = {
                    "describe": messaging.describe_channel_membership(MemberArn=who, **on),
                    "for-user": messaging.describe_channel_membership_for_app_instance_user(
                        AppInstanceUserArn=who, **on
                    ),
                    "preferences": messaging.get_channel_membership_preferences(
                        MemberArn=who, **on
                    ),
                }
            for mod in entry["moderators"]:
                who = mod["Moderator"]["Arn"]
                entry["moderator " + who] = messaging.describe_channel_moderator(
                    ChannelModeratorArn=who, **on
                )
            for ban in entry["bans"]:
                who = ban["Member"]["Arn"]
                entry["ban " + who] = messaging.describe_channel_ban(MemberArn=who, **on)
            readers_arns = [bearer]
            if readers == "all":
                readers_arns += [m["Member"]["Arn"] for m in members]
            for reader in readers_arns:
                as_reader = {"ChannelArn": ch, "ChimeBearer": reader}
                for order in ("ASCENDING", "DESCENDING"):
                    entry[f"messages {order} {reader}"] = _all(
                        messaging.list_channel_messages,
                        "ChannelMessages",
                        SortOrder=order,
                        MaxResults=3,  # several pages
                        **as_reader,
                    )
                for m in entry[f"messages ASCENDING {reader}"]:
                    entry[f"message {m['MessageId']} {reader}"] = messaging.get_channel_message(
                        MessageId=m["MessageId"], **as_reader
                    )
            view[ch] = entry
    users = iam.list_users()["Users"]
    view["iam users"] = users
    for u in users:
        name = u["UserName"]
        policies = iam.list_user_policies(UserName=name)["PolicyNames"]
        view["iam user " + name] = {
            "get": iam.get_user(UserName=name),
            "policies": policies,
            "documents": [iam.get_user_policy(UserName=name, PolicyName=p) for p in policies],
            "keys": iam.list_access_keys(UserName=name) if keys else None,
        }
    roles = iam.list_roles()["Roles"]
    view["iam roles"] = roles
    for r in roles:
        name = r["RoleName"]
        policies = iam.list_role_policies(RoleName=name)["PolicyNames"]
        view["iam role " + name] = {
            "get": iam.get_role(RoleName=name),
            "policies": policies,
            "documents": [iam.get_role_policy(RoleName=name, PolicyName=p) for p in policies],
        }
    stripped: dict[str, Any] = _strip(view)
    return stripped


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert left[key] == right[key], key


# --- helpers -------------------------------------------------------------------------------------


def export(server: RunningServer, out: Path, *extra: str) -> list[dict[str, Any]]:
    code = main(["export", "--data-dir", str(server.data_dir), "-o", str(out), *extra])
    assert code == 0
    return [json.loads(line) for line in out.read_text("utf-8").splitlines()]


def import_file(path: Path, data_dir: Path, *extra: str) -> int:
    return main(["import", str(path), "--data-dir", str(data_dir), "--progress", "never", *extra])


def without_header(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert records[0]["type"] == "header"
    return records[1:]


# --- tests ---------------------------------------------------------------------------------------


def test_a_live_endpoint_is_copied_into_an_empty_bellwire(
    source: tuple[RunningServer, dict[str, Any]],
    bellwire_server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, made = source
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    target_dir = tmp_path / "copy"
    argv = [
        "import",
        "--from-endpoint",
        server.url,
        "--region",
        server.region,
        "--with-iam",
        "--data-dir",
        str(target_dir),
        "--progress",
        "never",
    ]
    assert main(argv) == 0
    report = capsys.readouterr().err
    assert "channel_message: 11 imported" in report, report
    assert "iam_access_key: 1 skipped" in report, report

    copy = bellwire_server_factory(data_dir=target_dir)
    # Access keys cannot be read back from an endpoint (no API shows a secret).
    assert_same(api_view(server, keys=False), api_view(copy, keys=False))
    general = made["general"]
    ids = [
        m["MessageId"]
        for m in copy.client("chime-sdk-messaging").list_channel_messages(
            ChannelArn=general, ChimeBearer=made["apps"][0].admin, SortOrder="ASCENDING"
        )["ChannelMessages"]
    ]
    sent = made["sent"]
    assert ids[:3] == sent[:3] and sent[3] not in ids  # same ids, the deleted one absent

    # Running it again imports nothing.
    copy.stop()
    assert main(argv) == 0
    report = capsys.readouterr().err
    assert "imported" not in report, report
    assert "channel_message: 11 present" in report, report


def test_export_then_import_gives_an_equal_server(
    source: tuple[RunningServer, dict[str, Any]],
    bellwire_server_factory: Callable[..., RunningServer],
    tmp_path: Path,
) -> None:
    server, made = source
    records = export(server, tmp_path / "all.jsonl", "--include-secrets")
    assert (tmp_path / "all.jsonl").stat().st_mode & 0o777 == 0o600
    types = [r["type"] for r in records]
    for kind in (
        "app_instance",
        "app_instance_user",
        "app_instance_admin",
        "channel",
        "channel_membership",
        "channel_moderator",
        "channel_ban",
        "channel_message",
        "iam_user",
        "iam_access_key",
        "iam_role",
    ):
        assert kind in types, kind
    assert made["key"]["SecretAccessKey"] in {r.get("SecretAccessKey") for r in records}

    target_dir = tmp_path / "restored"
    assert import_file(tmp_path / "all.jsonl", target_dir) == 0
    copy = bellwire_server_factory(data_dir=target_dir)
    assert_same(api_view(server, readers="all"), api_view(copy, readers="all"))
    # The imported key signs requests on the copy.
    key = made["key"]
    sts = copy.client(
        "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )
    assert sts.get_caller_identity()["Arn"].endswith(":user/team/ops")
    # And an export of the copy is the same file, line for line.
    again = export(copy, tmp_path / "again.jsonl", "--include-secrets")
    assert without_header(again) == without_header(records)


def test_secrets_are_left_out_unless_asked(
    source: tuple[RunningServer, dict[str, Any]], tmp_path: Path
) -> None:
    server, made = source
    records = export(server, tmp_path / "plain.jsonl")
    keys = [r for r in records if r["type"] == "iam_access_key"]
    assert keys and all("SecretAccessKey" not in r for r in keys)
    assert made["key"]["SecretAccessKey"] not in (tmp_path / "plain.jsonl").read_text()
    assert records[0]["secrets"] is False


def test_importing_twice_adds_nothing(
    source: tuple[RunningServer, dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = source
    path = tmp_path / "all.jsonl"
    records = without_header(export(server, path, "--include-secrets"))
    target_dir = tmp_path / "twice"
    assert import_file(path, target_dir) == 0
    capsys.readouterr()
    assert import_file(path, target_dir) == 0
    report = capsys.readouterr().err
    assert " imported" not in report, report
    assert (
        f"channel_message: {sum(r['type'] == 'channel_message' for r in records)} present" in report
    )
    restored = bellwire_export_of(target_dir, tmp_path / "check.jsonl")
    assert restored == records


def bellwire_export_of(data_dir: Path, out: Path) -> list[dict[str, Any]]:
    code = main(["export", "--data-dir", str(data_dir), "-o", str(out), "--include-secrets"])
    assert code == 0
    return without_header([json.loads(x) for x in out.read_text("utf-8").splitlines()])


def test_an_interrupted_import_resumes_to_the_same_result(
    source: tuple[RunningServer, dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = source
    path = tmp_path / "all.jsonl"
    records = without_header(export(server, path, "--include-secrets"))
    lines = path.read_bytes().splitlines(keepends=True)

    # 1. Ctrl-C after 25 records (batches of 10): what was read before it stays.
    target_dir = tmp_path / "interrupted"
    target = Target(target_dir / "bellwire.db")

    def cut(items: Iterator[importer.Item], after: int) -> Iterator[importer.Item]:
        for n, item in enumerate(items):
            if n == after:
                raise KeyboardInterrupt
            yield item

    with path.open("rb") as handle, pytest.raises(KeyboardInterrupt):
        importer.load(
            target,
            cut(importer.read_file(handle, "all.jsonl"), 26),
            Progress("t", enabled=False),
            batch=10,
        )
    target.close()
    partial = bellwire_export_of(target_dir, tmp_path / "partial.jsonl")
    assert partial == records[:25]
    assert import_file(path, target_dir) == 0
    assert bellwire_export_of(target_dir, tmp_path / "resumed.jsonl") == records

    # 2. A file cut in the middle of a line: an error naming it, then the whole file resumes.
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_bytes(b"".join(lines[:40]) + lines[40][:20])
    other_dir = tmp_path / "truncated-target"
    capsys.readouterr()
    assert import_file(truncated, other_dir) == 2
    err = capsys.readouterr().err
    assert f"{truncated}:41: the line is not valid JSON" in err, err
    assert "Traceback" not in err
    assert bellwire_export_of(other_dir, tmp_path / "half.jsonl") == records[:39]
    assert import_file(path, other_dir) == 0
    assert bellwire_export_of(other_dir, tmp_path / "whole.jsonl") == records


HEADER = '{"type":"header","format":"bellwire-export","version":1}'
APP = (
    '{"type":"app_instance","AppInstanceArn":"arn:aws:chime:us-east-1:123456789012:app-instance/a",'
    '"Name":"a","CreatedTimestamp":1,"LastUpdatedTimestamp":1}'
)


@pytest.mark.parametrize(
    ("lines", "bad_line", "message"),
    [
        ([], 1, "the file is empty"),
        (['{"type":"channel"}'], 1, "the first line must be a"),
        (['{"type":"header","format":"other","version":1}'], 1, "format is 'other'"),
        (['{"type":"header","format":"bellwire-export","version":9}'], 1, "upgrade bellwire"),
        ([HEADER, "{not json"], 2, "not valid JSON"),
        ([HEADER, "[1, 2]"], 2, "must be a JSON object"),
        ([HEADER, '{"type":"spaceship"}'], 2, "unknown record type 'spaceship'"),
        ([HEADER, '{"type":"app_instance","Name":"a"}'], 2, "the field AppInstanceArn is missing"),
        ([HEADER, APP.replace('"Name":"a"', '"Name":5')], 2, "Name must be a string"),
        ([HEADER, APP.replace('"Name"', '"Nmae"')], 2, "unknown field 'Nmae'"),
        ([HEADER, APP.replace('"CreatedTimestamp":1', '"CreatedTimestamp":"x"')], 2, "epoch"),
        (
            [
                HEADER,
                APP,
                '{"type":"channel_membership","ChannelArn":"arn:aws:chime:us-east-1:123456789012:'
                'app-instance/a/channel/c","MemberArn":"m","Type":"DEFAULT","InvitedByArn":"m",'
                '"CreatedTimestamp":1,"LastUpdatedTimestamp":1}',
            ],
            3,
            "its channel record must come first",
        ),
        (
            [
                HEADER,
                '{"type":"channel","ChannelArn":"c","AppInstanceArn":"a","Name":"n",'
                '"Mode":"OPEN","Privacy":"PUBLIC","CreatedByArn":"u","CreatedTimestamp":1,'
                '"LastUpdatedTimestamp":1}',
            ],
            2,
            "Mode must be one of UNRESTRICTED, RESTRICTED",
        ),
        (
            [
                HEADER,
                '{"type":"iam_user","UserName":"u","UserId":"AIDA1","Path":"/","CreateDate":1,'
                '"Policies":{"p":"{not a policy"}}',
            ],
            2,
            "the policy 'p' is invalid",
        ),
        ([HEADER, b"\xff\xfe".decode("latin-1")], 2, "not UTF-8"),
        (
            [
                HEADER,
                '{"type":"iam_user","UserName":"a","UserId":"AIDA1","Path":"/","CreateDate":1}',
                '{"type":"iam_user","UserName":"b","UserId":"AIDA1","Path":"/","CreateDate":1}',
            ],
            3,
            "iam_user conflicts with what the target holds",
        ),
    ],
)
def test_a_bad_line_is_named_and_nothing_crashes(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: list[str],
    bad_line: int,
    message: str | None,
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"".join(line.encode("latin-1") + b"\n" for line in lines))
    assert import_file(path, tmp_path / "target") == 2
    err = capsys.readouterr().err
    assert f"bad.jsonl:{bad_line}:" in err or (
        bad_line == 1 and "bad.jsonl: the file is empty" in err
    ), err
    if message is not None:
        assert message in err, err
    assert "Traceback" not in err


def test_the_command_line_reports_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(HEADER + "\n" + '{"type":"channel","ChannelArn":3}\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", "import", str(path), "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "bad.jsonl:2: channel: ChannelArn must be a string, got 3" in done.stderr
    assert "Traceback" not in done.stderr


def test_import_refuses_the_data_dir_of_a_running_server(
    bellwire_server: RunningServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(HEADER + "\n" + APP + "\n", encoding="utf-8")
    assert import_file(path, bellwire_server.data_dir) == 2
    err = capsys.readouterr().err
    assert "is a server running on this data dir?" in err, err
    identity = bellwire_server.client("chime-sdk-identity")
    assert identity.list_app_instances()["AppInstances"] == []


def test_arns_of_another_region_or_account_are_imported_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "west.jsonl"
    path.write_text(HEADER + "\n" + APP.replace("us-east-1", "us-west-2") + "\n", "utf-8")
    assert import_file(path, tmp_path / "d") == 0
    err = capsys.readouterr().err
    assert "app_instance: 1 imported" in err
    assert "warning: ARNs of region us-west-2 and account 123456789012" in err, err
    path.write_text(HEADER + "\n" + APP + "\n", "utf-8")
    assert import_file(path, tmp_path / "e") == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "--data-dir", "{tmp}/d"], "name an export file, or --from-endpoint"),
        (["import", "f", "--from-aws", "--data-dir", "{tmp}/d"], "(one of them)"),
        (["import", "{tmp}/missing.jsonl", "--data-dir", "{tmp}/d"], "cannot read"),
        (
            ["import", "--from-endpoint", "http://127.0.0.1:9", "--data-dir", "{tmp}/d"],
            "pass --region",
        ),
    ],
)
def test_import_arguments_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not (tmp_path / "d").exists()  # nothing was created


def test_export_to_stdout_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(HEADER + "\n" + APP.replace('"Name":"a"', '"Name":"Zoë ✓"') + "\n", "utf-8")
    assert import_file(path, tmp_path / "d") == 0
    done = subprocess.run(
        [sys.executable, "-m", "bellwire", "export", "--data-dir", str(tmp_path / "d")],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode("utf-8").splitlines()
    assert json.loads(lines[1])["Name"] == "Zoë ✓"


def test_targeted_messages_are_found_by_reading_as_each_member(
    source: tuple[RunningServer, dict[str, Any]],
    bellwire_server_factory: Callable[..., RunningServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, _ = source
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_access_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
    target_dir = tmp_path / "copy"
    argv = ["import", "--from-endpoint", server.url, "--targeted-messages"]
    assert main([*argv, "--data-dir", str(target_dir), "--progress", "never"]) == 0
    assert "channel_message: 12 imported" in capsys.readouterr().err
    copy = bellwire_server_factory(data_dir=target_dir)
    # As every member sees them, in both orders: the targeted message is in its place.
    source_view = api_view(server, readers="all", keys=False)
    copy_view = api_view(copy, readers="all", keys=False)
    for view in (source_view, copy_view):  # IAM was not asked for
        for key in [k for k in view if k.startswith("iam")]:
            del view[key]
    assert_same(source_view, copy_view)
