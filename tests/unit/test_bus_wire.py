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
            sub_seq=2,
        ),
        delivery.SubChannelEvent(delivery.SubChannelChange.CREATE_SUB_CHANNEL, CH, "b", 3),
    ]
    batch = wire.decode(wire.encode("node-a", messages))
    assert batch.node == "node-a"
    assert list(batch.messages) == messages


def test_a_sub_channel_event_vector_carries_its_own_number() -> None:
    sub = f"{CH}/subchannel/b"
    event = ChannelEvent(
        sub,
        9,
        Event(EventType.UPDATE_CHANNEL_MEMBERSHIP, MessageType.SYSTEM, {}),
        only=frozenset({BOB}),
        subscribe=(BOB,),
        moved_from=f"{CH}/subchannel/a",
        sub_seq=4,
        moved_from_seq=11,
    )
    expected = (
        '{"v":1,"node":"n1","m":[{"t":"c","ch":"SUB","seq":9,"et":"UPDATE_CHANNEL_MEMBERSHIP",'
        '"mt":"SYSTEM","p":{},"only":["BOB"],"sub":["BOB"],"mv":"OLD","ss":4,"ms":11}]}'
    )
    for name, value in (("SUB", sub), ("BOB", BOB), ("OLD", f"{CH}/subchannel/a")):
        expected = expected.replace(f'"{name}"', f'"{value}"')
    assert wire.encode("n1", [event]) == expected.encode()
    assert wire.decode(expected.encode()).messages == (event,)
    # An older node's encoding has no "ss": decoded without a number of its own.
    (old,) = wire.decode(expected.replace(',"ss":4,"ms":11', "").encode()).messages
    assert isinstance(old, ChannelEvent) and old.sub_seq is None and old.position == 9
    assert old.moved_from_seq is None


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
        b'{"v":1,"node":"n","m":[{"t":"c","ch":"x","seq":1,"et":"A","mt":"SYSTEM","p":null,'
        b'"ss":"2"}]}',
        b"[" * 100_000,
    ],
)
def test_anything_else_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(data)


# --- the operator's asks and answers (``<prefix>:admin``) ---------------------------------------


def test_a_sessions_ask_vector_and_round_trip() -> None:
    ask = wire.SessionsAsk("a1", "n1", "bw:admin:reply:a1", ALICE, 100, 100)
    data = wire.encode_ask(ask)
    assert data == (
        b'{"v":1,"t":"ask","id":"a1","node":"n1","reply":"bw:admin:reply:a1","q":"sessions",'
        b'"start":100,"limit":100,"u":"' + ALICE.encode() + b'"}'
    )
    assert wire.decode_ask(data) == ask
    everyone = wire.SessionsAsk("a2", "n1", "k", None, 0, 5)
    assert b'"u"' not in wire.encode_ask(everyone)
    assert wire.decode_ask(wire.encode_ask(everyone)) == everyone


def test_a_sessions_answer_vector_and_round_trip() -> None:
    answer = wire.SessionsAnswer(
        "a1",
        "n2",
        "host-b (pid 12)",
        (wire.SessionInfo(BOB, "s-1", 1764806400.25, True, 0),),
        True,
    )
    data = wire.encode_answer(answer)
    assert json.loads(data) == {
        "v": 1,
        "t": "ans",
        "id": "a1",
        "node": "n2",
        "name": "host-b (pid 12)",
        "s": [{"u": BOB, "sid": "s-1", "since": 1764806400.25, "est": True, "buf": 0}],
        "more": True,
    }
    assert wire.decode_answer(data) == answer


@pytest.mark.parametrize(
    "data",
    [
        b"nope",
        b"[]",
        b'{"v":2,"t":"ask"}',
        b'{"v":1,"t":"ans","id":"a","node":"n","reply":"k","q":"sessions","start":0,"limit":1}',
        b'{"v":1,"t":"ask","id":"a","node":"n","reply":"k","q":"users","start":0,"limit":1}',
        b'{"v":1,"t":"ask","id":"a","node":"n","reply":"k","q":"sessions","start":-1,"limit":1}',
        b'{"v":1,"t":"ask","id":"a","node":"n","reply":"k","q":"sessions","start":0,"limit":0}',
        b'{"v":1,"t":"ask","id":"a","node":"n","reply":"k","q":"sessions","start":0}',
        b'{"v":1,"t":"ask","id":1,"node":"n","reply":"k","q":"sessions","start":0,"limit":1}',
    ],
)
def test_a_malformed_ask_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_ask(data)


@pytest.mark.parametrize(
    "data",
    [
        b'{"v":1,"t":"ask","id":"a","node":"n","name":"x","s":[],"more":false}',
        b'{"v":1,"t":"ans","id":"a","node":"n","name":"x","s":{},"more":false}',
        b'{"v":1,"t":"ans","id":"a","node":"n","name":"x","s":[],"more":0}',
        b'{"v":1,"t":"ans","id":"a","node":"n","name":"x","s":[{"u":"u","sid":"s"}],"more":false}',
        b'{"v":1,"t":"ans","id":"a","node":"n","s":[],"more":false}',
    ],
)
def test_a_malformed_answer_is_a_wire_error(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode_answer(data)


def test_merge_orders_the_cluster_and_names_who_did_not_answer() -> None:
    a = wire.SessionsAnswer(
        "x",
        "n1",
        "host-a",
        (
            wire.SessionInfo(ALICE, "s-3", 30.0, True, 0),
            wire.SessionInfo(ALICE, "s-1", 10.0, True, 5),
        ),
        False,
    )
    b = wire.SessionsAnswer(
        "x", "n2", "host-b", (wire.SessionInfo(BOB, "s-2", 20.0, False, 0),), True
    )
    again = wire.SessionsAnswer(
        "x", "n2", "host-b", (wire.SessionInfo(BOB, "s-9", 1.0, True, 0),), False
    )
    merged = wire.merge([a, b, again], {"n1": "host-a", "n2": "host-b", "n3": "host-c"})
    assert [(r.node, r.session.session_id) for r in merged.sessions] == [
        ("host-a", "s-1"),
        ("host-b", "s-2"),
        ("host-a", "s-3"),
    ]
    assert merged.answered == ("host-a", "host-b")
    assert merged.missing == ("host-c",)
    assert merged.truncated  # host-b has more beyond this page
    alone = wire.merge([a], {})
    assert alone.missing == () and not alone.truncated and len(alone.sessions) == 2
