"""The bus's wire encoding: exact vectors for each kind of message, round-trips, refusals."""

from __future__ import annotations

import json

import pytest

from bellwire.bus import wire
from bellwire.domain import delivery
from bellwire.domain.delivery import ChannelEvent, CloseSessions, UserEvent
from bellwire.events import Event, EventType, MessageType
from bellwire.records.iam import (
    AccessKey,
    IamChange,
    IamRole,
    IamUser,
    RoleState,
    StsSession,
    UserState,
)

CH = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"
ALICE = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/alice"
BOB = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/bob"


def test_a_targeted_message_event_vector() -> None:
    event = delivery.message_event(
        EventType.CREATE_CHANNEL_MESSAGE,
        CH,
        7,
        {"Content": "hé", "MessageId": "m1"},
        message_type="STANDARD",
        sender=ALICE,
        target=BOB,
    )
    expected = (
        '{"v":1,"node":"n1","m":[{"t":"c","ch":"CH","seq":7,"et":"CREATE_CHANNEL_MESSAGE",'
        '"mt":"STANDARD","p":{"Content":"hé","MessageId":"m1"},"only":["ALICE","BOB"]}]}'
    )
    for name, value in (("CH", CH), ("ALICE", ALICE), ("BOB", BOB)):
        expected = expected.replace(f'"{name}"', f'"{value}"')
    assert wire.encode("n1", [event]) == expected.encode()


def test_membership_user_close_and_resync_vectors() -> None:
    messages = [
        delivery.membership_deleted(CH, 3, {"Member": {"Arn": BOB}}, BOB),
        delivery.channel_deleted(CH, 4, {"ChannelArn": CH}),
        UserEvent(BOB, deleted=True),
        CloseSessions(ALICE, 4419, "refresh", "s1"),
        CloseSessions(ALICE, 1006, "drop"),
        wire.RESYNC,
    ]
    assert json.loads(wire.encode("n2", messages))["m"] == [
        {
            "t": "c",
            "ch": CH,
            "seq": 3,
            "et": "DELETE_CHANNEL_MEMBERSHIP",
            "mt": "SYSTEM",
            "p": {"Member": {"Arn": BOB}},
            "unsub": [BOB],
        },
        {
            "t": "c",
            "ch": CH,
            "seq": 4,
            "et": "DELETE_CHANNEL",
            "mt": "SYSTEM",
            "p": {"ChannelArn": CH},
            "cc": True,
        },
        {"t": "u", "u": BOB, "d": True},
        {"t": "x", "u": ALICE, "code": 4419, "r": "refresh", "sid": "s1"},
        {"t": "x", "u": ALICE, "code": 1006, "r": "drop"},
        {"t": "r"},
    ]


def _iam_change() -> IamChange:
    user = IamUser("Dev", "AIDAEXAMPLE", "/team/", 1700000000.5, {"team": "chat"})
    key = AccessKey("AKIAEXAMPLE", "Dev", "secret/key+1", "Active", 1700000001.0)
    role = IamRole("Reader", "AROAEXAMPLE", "/", None, '{"Statement":[]}', 3600, 1700000002.0, {})
    session = StsSession(
        "ASIAEXAMPLE",
        "s3cr3t",
        "ab" * 32,
        "assumed-role",
        "Reader",
        "app",
        {"k": "v"},
        None,
        1700000003.0,
        1700003603.0,
    )
    return IamChange(
        output={"not": "sent"},
        users={"dev": UserState(user, (key,), {"p": "{}"}), "gone": None},
        roles={"reader": RoleState(role, {}), "old": None},
        sessions_added=(session,),
        sessions_removed=("ASIAOLD",),
        version=42,
    )


def test_round_trips_of_every_kind() -> None:
    messages: list[wire.Sent] = [
        delivery.channel_created(CH, 1, {"ChannelArn": CH}, (ALICE, BOB)),
        delivery.memberships_batch_created(CH, 2, {"Members": []}, (BOB,)),
        delivery.sender_only_event(
            EventType.PENDING_CREATE_CHANNEL_MESSAGE, CH, 5, {"Content": "x"}, ALICE
        ),
        ChannelEvent(CH, 6, Event("FUTURE_EVENT", MessageType.SYSTEM, None, "why")),
        UserEvent(ALICE),
        CloseSessions(BOB, 4003, "kicked"),
        wire.RESYNC,
        ChannelEvent(
            f"{CH}/subchannel/b",
            7,
            Event(EventType.CREATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, {}),
            subscribe=(BOB,),
            moved_from=f"{CH}/subchannel/a",
        ),
        delivery.SubChannelEvent(delivery.SubChannelChange.CREATE_SUB_CHANNEL, CH, "b", 3),
    ]
    batch = wire.decode(wire.encode("node-a", messages))
    assert batch.node == "node-a"
    assert list(batch.messages) == messages


def test_an_iam_change_travels_without_its_api_answer() -> None:
    change = _iam_change()
    (decoded,) = wire.decode(wire.encode("n", [change])).messages
    assert isinstance(decoded, IamChange)
    assert decoded.output == {}
    assert decoded.users == change.users and decoded.roles == change.roles
    assert decoded.sessions_added == change.sessions_added
    assert decoded.sessions_removed == change.sessions_removed
    assert decoded.version == 42


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"v":2,"node":"n","m":[]}',
        b'{"v":1,"m":[]}',
        b'{"v":1,"node":"n","m":[{"t":"?"}]}',
        b'{"v":1,"node":"n","m":[{"t":"c","ch":"x","seq":"7","et":"A","mt":"SYSTEM","p":null}]}',
        b'{"v":1,"node":"n","m":[{"t":"c","ch":"x","seq":true,"et":"A","mt":"SYSTEM","p":null}]}',
        b'{"v":1,"node":"n","m":[{"t":"c","ch":"x","seq":1,"et":"A","mt":"BAD","p":null}]}',
        b'{"v":1,"node":"n","m":[{"t":"u","u":5,"d":true}]}',
        b'{"v":1,"node":"n","m":[{"t":"x","u":"a","code":4003}]}',
        b'{"v":1,"node":"n","m":[{"t":"i","ver":1,"users":{"a":{}},"roles":{},"sa":[],"sr":[]}]}',
        b'{"v":1,"node":"n","m":[{"t":"c","ch":"x","seq":1,"et":"A","mt":"SYSTEM","p":[]}]}',
        b"[" * 100_000,
    ],
)
def test_anything_else_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data)
