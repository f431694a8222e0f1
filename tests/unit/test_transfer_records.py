"""The export format (bellwire/transfer/records.py): vectors for every record type and error."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from bellwire.records.chime import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    ElasticConfiguration,
    Membership,
    Message,
    Moderator,
    SubChannel,
)
from bellwire.records.iam import AccessKey, IamRole, IamUser
from bellwire.transfer import records as fmt
from bellwire.transfer.progress import Progress

APP = "arn:aws:chime:us-east-1:123456789012:app-instance/a1"
ALICE = APP + "/user/alice"
BOB = APP + "/user/bob"
CHANNEL = APP + "/channel/c1"


def _round_trip(record: dict[str, Any]) -> Any:
    # Through JSON text, as a file carries it.
    return fmt.to_store(fmt.check(json.loads(json.dumps(record))))


def test_every_store_record_survives_the_format() -> None:
    ai = AppInstance(APP, "shop", '{"a":1}', 1_700_000_000.123456, 1_700_000_001.5)
    tagged = _round_trip(fmt.app_instance(ai, 30, {"env": "test"}))
    assert (tagged.resource, tagged.tags, tagged.retention_days) == (ai, {"env": "test"}, 30)

    user = AppInstanceUser(ALICE, APP, "Alice", None, 1.25, 2.5, 90, "CREATED_TIMESTAMP")
    tagged = _round_trip(fmt.user(user, {}))
    assert (tagged.resource, tagged.tags) == (user, {})

    admin = Admin(APP, ALICE, 3.0)
    assert _round_trip(fmt.admin(admin)) == admin

    channel = Channel(
        CHANNEL, APP, "general", "RESTRICTED", "PRIVATE", "m", ALICE, 1.0, 2.0, 3.0, 0,
        10, "LAST_MESSAGE_TIMESTAMP",
    )  # fmt: skip
    assert _round_trip(fmt.channel(channel, {"t": "v"})).resource == channel

    membership = Membership(
        CHANNEL, BOB, "HIDDEN", ALICE, 1.0, 2.0, 2.5, {"PushNotifications": {"Type": "ALL"}}
    )
    assert _round_trip(fmt.membership(membership)) == membership
    moderator = Moderator(CHANNEL, BOB, ALICE, 4.0)
    assert _round_trip(fmt.moderator(moderator)) == moderator
    ban = Ban(CHANNEL, BOB, ALICE, 5.0)
    assert _round_trip(fmt.ban(ban)) == ban

    message = Message(
        channel_arn=CHANNEL,
        message_id="0189abcdef",
        seq=0,
        sender_arn=ALICE,
        sender_name="Alice",
        content="hé",
        metadata="meta",
        type="STANDARD",
        persistence="PERSISTENT",
        redacted=False,
        created=1_700_000_000.000001,
        last_updated=1_700_000_002.0,
        last_edited=1_700_000_002.0,
        attributes={"k": {"StringValues": ["v"]}},
        content_type="text/plain",
        target_arn=BOB,
        push={"Title": "t", "Body": "b", "Type": "DEFAULT"},
    )
    assert _round_trip(fmt.message(message)) == message
    redacted = Message(CHANNEL, "m2", 0, ALICE, "Alice", None, None, "CONTROL", "PERSISTENT",
                       True, 1.0, 2.0)  # fmt: skip
    assert _round_trip(fmt.message(redacted)) == redacted

    iam_user = IamUser("ops", "AIDA1", "/team/", 6.0, {"k": "v"})
    tagged = _round_trip(fmt.iam_user(iam_user, {"p": "{}"}))
    assert (tagged.resource, tagged.policies) == (iam_user, {"p": "{}"})
    key = AccessKey("AKIA1", "ops", "secret", "Inactive", 7.0)
    assert _round_trip(fmt.iam_access_key(key, secret=True)) == key
    assert "SecretAccessKey" not in fmt.iam_access_key(key, secret=False)
    role = IamRole("r", "AROA1", "/", None, "{}", 3600, 8.0, {})
    assert _round_trip(fmt.iam_role(role, {})).resource == role


def test_absent_means_none_and_nothing_empty_is_written() -> None:
    ai = AppInstance(APP, "shop", None, 1.0, 1.0)
    assert fmt.app_instance(ai, None, {}) == {
        "type": "app_instance",
        "AppInstanceArn": APP,
        "Name": "shop",
        "CreatedTimestamp": 1.0,
        "LastUpdatedTimestamp": 1.0,
    }


def test_timestamps_keep_every_bit_of_the_stored_float() -> None:
    ts = 1_733_241_234.123456789
    ban = Ban(CHANNEL, BOB, ALICE, ts)
    assert _round_trip(fmt.ban(ban)).created == ts


GOOD_BAN: dict[str, Any] = {
    "type": "channel_ban",
    "ChannelArn": CHANNEL,
    "MemberArn": BOB,
    "CreatedByArn": ALICE,
    "CreatedTimestamp": 1.0,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": None}, 'must have a "type"'),
        ({"type": "chanel_ban"}, "unknown record type 'chanel_ban'"),
        ({"Extra": 1}, "channel_ban: unknown field 'Extra'"),
        ({"MemberArn": None}, "the field MemberArn is missing"),
        ({"MemberArn": ["x"]}, "MemberArn must be a string"),
        ({"CreatedTimestamp": True}, "CreatedTimestamp must be a timestamp"),
        ({"CreatedTimestamp": -1}, "CreatedTimestamp must be a timestamp"),
        ({"CreatedTimestamp": float("nan")}, "CreatedTimestamp must be a timestamp"),
    ],
)
def test_bad_records_are_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    record = {**GOOD_BAN, **change}
    if change.get("type", "") is None:
        del record["type"]
    with pytest.raises(fmt.FormatError, match=message):
        fmt.check(record)
    fmt.check(GOOD_BAN)


def test_an_elastic_channel_keeps_its_configuration_and_sub_channels() -> None:
    config = ElasticConfiguration(3, 2, 10)
    channel = Channel(CHANNEL, APP, "e", "RESTRICTED", "PUBLIC", None, ALICE, 1.0, 2.0, None, 0,
                      elastic=config)  # fmt: skip
    record = fmt.channel(channel, {})
    assert record["ElasticChannelConfiguration"] == {
        "MaximumSubChannels": 3,
        "TargetMembershipsPerSubChannel": 2,
        "MinimumMembershipPercentage": 10,
    }
    assert _round_trip(record).resource == channel
    # Ordinal and counts are left to the importing store.
    sub = SubChannel(CHANNEL, "s1", 0, 0, 0, 3.0)
    assert _round_trip(fmt.sub_channel(sub)) == sub
    member = Membership(CHANNEL, BOB, "DEFAULT", ALICE, 1.0, 1.0, sub_channel_id="s1")
    assert _round_trip(fmt.membership(member)) == member
    message = Message(CHANNEL, "m", 0, BOB, "Bob", "hi", None, "STANDARD", "PERSISTENT", False,
                      1.0, 1.0, sub_channel_id="s1")  # fmt: skip
    assert _round_trip(fmt.message(message)) == message
    # A regular channel's records carry none.
    assert "SubChannelId" not in fmt.message(dataclasses.replace(message, sub_channel_id=None))
    assert "ElasticChannelConfiguration" not in fmt.channel(
        dataclasses.replace(channel, elastic=None), {}
    )


@pytest.mark.parametrize(
    "config",
    [
        {"MaximumSubChannels": 3, "TargetMembershipsPerSubChannel": 2},
        {"MaximumSubChannels": 3, "TargetMembershipsPerSubChannel": 2,
         "MinimumMembershipPercentage": "10"},
        {"MaximumSubChannels": 3, "TargetMembershipsPerSubChannel": 2,
         "MinimumMembershipPercentage": 10, "Extra": 1},
    ],
)  # fmt: skip
def test_a_malformed_elastic_configuration_is_refused(config: dict[str, Any]) -> None:
    channel = Channel(CHANNEL, APP, "e", "RESTRICTED", "PUBLIC", None, ALICE, 1.0, 2.0, None, 0)
    record = {**fmt.channel(channel, {}), "ElasticChannelConfiguration": config}
    with pytest.raises(fmt.FormatError, match="ElasticChannelConfiguration must have"):
        fmt.check(record)


def test_expiration_days_and_criterion_go_together() -> None:
    user = fmt.user(AppInstanceUser(ALICE, APP, "A", None, 1.0, 1.0, 7, "CREATED_TIMESTAMP"), {})
    del user["ExpirationCriterion"]
    with pytest.raises(fmt.FormatError, match="go together"):
        fmt.check(user)


def test_the_header_names_the_format_and_refuses_newer_versions() -> None:
    header = fmt.header(created=1.0, source="x", secrets=False)
    assert fmt.check_header(header) == header
    with pytest.raises(fmt.FormatError, match="upgrade bellwire"):
        fmt.check_header({**header, "version": fmt.VERSION + 1})
    with pytest.raises(fmt.FormatError, match="first line must be"):
        fmt.check_header(GOOD_BAN)


def test_the_progress_line_is_drawn_only_when_asked() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    for stream, enabled in ((quiet, None), (loud, True)):  # StringIO is not a terminal
        p = Progress("import", total_bytes=100, stream=stream, enabled=enabled)
        p.update(records=1, new=1, nbytes=50, note="channel")
        p.close()
    assert quiet.getvalue() == ""
    assert "import: [##########..........]  50% 1 records (1 new)" in loud.getvalue()


def test_format_module_is_sans_io() -> None:
    code = (
        "import sys, bellwire.transfer.records\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'sqlite3', 'asyncio', 'botocore', 'aiohttp'} or m.startswith('bellwire.store')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
