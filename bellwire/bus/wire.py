"""The bus's wire encoding: everything one node tells the others, as one JSON document (pure).

A *batch* is what one commit (or one operator command) publishes: the events of one ``Result``
in commit order, with the publishing node's id so that a node skips its own batches (it has
already delivered them in process, synchronously, as the embedded mode does). The batches a
node queued meanwhile travel as one document (:func:`encode_batches`), their messages in
order::

    {"v": 1, "node": "<node id>", "m": [<message>, ...]}

Messages are tagged by ``"t"``:

- ``"c"`` a :class:`ChannelEvent`: ``ch`` channel ARN, ``seq``, ``et`` event type, ``mt``
  message type, ``p`` payload (the API shape, or null), ``r`` event reason (optional), ``only``,
  ``sub``, ``unsub`` (lists of user ARNs, optional), ``cc`` close_channel (optional, true);
- ``"s"`` a :class:`SubChannelEvent` (``k`` kind, ``ch``, ``sub``, ``n`` membership count);
  a ChannelEvent's ``mv`` is its ``moved_from``, ``ss`` its ``sub_seq`` and ``ms`` its
  ``moved_from_seq`` (elastic channels; optional: a batch without ``ss`` is an older node's,
  applied as before);
- ``"u"`` a :class:`UserEvent` (``u`` user ARN, ``d`` deleted);
- ``"x"`` a :class:`CloseSessions` (``u``, ``code``, ``r``, ``sid`` optional);
- ``"r"`` :data:`RESYNC`: the publishing node lost batches it could not send, so every node
  must act as on a lost connection (close its sessions with 4410, re-read the IAM state);
- ``"i"`` an :class:`IamChange` (``ver``, ``users`` / ``roles``: name key -> state or null,
  ``sa`` sessions added, ``sr`` access key ids removed). The API answer (``output``) stays on
  the node that answered. IAM states carry secrets, as the store does: the bus must be as
  private as the database (docs/architecture.md, "The bus").

Decoding is strict: anything else raises :class:`WireError`; a node that receives such a batch
acts as on a lost connection, since it cannot know what the batch carried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bellwire.compact_json import compact_unicode
from bellwire.domain.delivery import (
    BusEvent,
    ChannelEvent,
    CloseSessions,
    SubChannelChange,
    SubChannelEvent,
    UserEvent,
)
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

VERSION = 1

BusMessage = BusEvent | IamChange


@dataclass(frozen=True, slots=True)
class Resync:
    """Not for listeners: the bus itself acts on it."""


RESYNC = Resync()
Sent = BusMessage | Resync


class WireError(ValueError):
    """A batch that is not in this encoding (another version, or damaged)."""


@dataclass(frozen=True, slots=True)
class Batch:
    node: str
    messages: tuple[Sent, ...]


def encode(node: str, messages: Sequence[Sent]) -> bytes:
    document = {"v": VERSION, "node": node, "m": [_encode_message(m) for m in messages]}
    return compact_unicode(document).encode()


def encode_batches(node: str, batches: Sequence[Sequence[Sent]], limit: int = 1000) -> list[bytes]:
    """Consecutive batches of one node as few documents as possible, in order: a burst of
    commits costs one publish and one decode on each node instead of one per commit. A
    document holds whole batches and at most ``limit`` messages (a larger batch stays whole and
    alone); a :data:`RESYNC` is always a document of its own, since a node that reads one
    drops the rest of that document."""
    documents: list[bytes] = []
    pending: list[Sent] = []
    for batch in batches:
        if RESYNC in batch:
            if pending:
                documents.append(encode(node, pending))
                pending = []
            documents.append(encode(node, batch))
            continue
        if pending and len(pending) + len(batch) > limit:
            documents.append(encode(node, pending))
            pending = []
        pending.extend(batch)
    if pending:
        documents.append(encode(node, pending))
    return documents


def decode(data: bytes | str) -> Batch:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise WireError("not a version 1 bus batch")
    node, messages = document.get("node"), document.get("m")
    if not isinstance(node, str) or not isinstance(messages, list):
        raise WireError("a batch needs node and m")
    try:
        return Batch(node, tuple(_decode_message(m) for m in messages))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WireError(f"malformed message: {exc!r}") from None


# --- messages ---------------------------------------------------------------------------------


def _encode_message(message: Sent) -> dict[str, Any]:
    if isinstance(message, ChannelEvent):
        event = message.event
        out: dict[str, Any] = {
            "t": "c",
            "ch": message.channel_arn,
            "seq": message.seq,
            "et": str(event.type),
            "mt": str(event.message_type),
            "p": None if event.payload is None else dict(event.payload),
        }
        if event.reason is not None:
            out["r"] = event.reason
        if message.only is not None:
            out["only"] = sorted(message.only)
        if message.subscribe:
            out["sub"] = list(message.subscribe)
        if message.unsubscribe:
            out["unsub"] = list(message.unsubscribe)
        if message.close_channel:
            out["cc"] = True
        if message.moved_from is not None:
            out["mv"] = message.moved_from
        if message.sub_seq is not None:
            out["ss"] = message.sub_seq
        if message.moved_from_seq is not None:
            out["ms"] = message.moved_from_seq
        return out
    if isinstance(message, SubChannelEvent):
        return {
            "t": "s",
            "k": str(message.kind),
            "ch": message.channel_arn,
            "sub": message.sub_channel_id,
            "n": message.membership_count,
        }
    if isinstance(message, UserEvent):
        return {"t": "u", "u": message.user_arn, "d": message.deleted}
    if isinstance(message, CloseSessions):
        out = {"t": "x", "u": message.user_arn, "code": message.code, "r": message.reason}
        if message.session_id is not None:
            out["sid"] = message.session_id
        return out
    if isinstance(message, Resync):
        return {"t": "r"}
    return {
        "t": "i",
        "ver": message.version,
        "users": {k: None if v is None else _user_state(v) for k, v in message.users.items()},
        "roles": {k: None if v is None else _role_state(v) for k, v in message.roles.items()},
        "sa": [_sts_session(s) for s in message.sessions_added],
        "sr": list(message.sessions_removed),
    }


def _decode_message(raw: Any) -> Sent:
    kind = raw["t"]
    if kind == "r":
        return RESYNC
    if kind == "c":
        et = _str(raw["et"])
        event = Event(
            EventType(et) if et in EventType.__members__ else et,
            MessageType(raw["mt"]),
            _optional_mapping(raw["p"]),
            _optional_str(raw.get("r")),
        )
        only = raw.get("only")
        return ChannelEvent(
            _str(raw["ch"]),
            _int(raw["seq"]),
            event,
            only=None if only is None else frozenset(_strs(only)),
            subscribe=_strs(raw.get("sub", [])),
            unsubscribe=_strs(raw.get("unsub", [])),
            close_channel=raw.get("cc") is True,
            moved_from=_optional_str(raw.get("mv")),
            sub_seq=None if raw.get("ss") is None else _int(raw["ss"]),
            moved_from_seq=None if raw.get("ms") is None else _int(raw["ms"]),
        )
    if kind == "s":
        return SubChannelEvent(
            SubChannelChange(raw["k"]), _str(raw["ch"]), _str(raw["sub"]), _int(raw["n"])
        )
    if kind == "u":
        return UserEvent(_str(raw["u"]), deleted=raw["d"] is True)
    if kind == "x":
        return CloseSessions(
            _str(raw["u"]), _int(raw["code"]), _str(raw["r"]), _optional_str(raw.get("sid"))
        )
    if kind == "i":
        users = raw["users"]
        roles = raw["roles"]
        return IamChange(
            users={_str(k): None if v is None else _decode_user_state(v) for k, v in users.items()},
            roles={_str(k): None if v is None else _decode_role_state(v) for k, v in roles.items()},
            sessions_added=tuple(_decode_sts_session(s) for s in raw["sa"]),
            sessions_removed=_strs(raw["sr"]),
            version=_int(raw["ver"]),
        )
    raise WireError(f"unknown message kind {kind!r}")


# --- IAM records ------------------------------------------------------------------------------


def _user_state(state: UserState) -> dict[str, Any]:
    user = state.user
    return {
        "user": {
            "name": user.name,
            "id": user.user_id,
            "path": user.path,
            "created": user.created,
            "tags": dict(user.tags),
        },
        "keys": [
            {
                "id": k.access_key_id,
                "user": k.user_name,
                "secret": k.secret,
                "status": k.status,
                "created": k.created,
            }
            for k in state.keys
        ],
        "policies": dict(state.policies),
    }


def _decode_user_state(raw: Any) -> UserState:
    u = raw["user"]
    return UserState(
        IamUser(
            _str(u["name"]), _str(u["id"]), _str(u["path"]), _float(u["created"]), _tags(u["tags"])
        ),
        tuple(
            AccessKey(
                _str(k["id"]),
                _str(k["user"]),
                _str(k["secret"]),
                _str(k["status"]),
                _float(k["created"]),
            )
            for k in raw["keys"]
        ),
        _tags(raw["policies"]),
    )


def _role_state(state: RoleState) -> dict[str, Any]:
    role = state.role
    return {
        "role": {
            "name": role.name,
            "id": role.role_id,
            "path": role.path,
            "description": role.description,
            "trust": role.trust_policy,
            "max_session": role.max_session_duration,
            "created": role.created,
            "tags": dict(role.tags),
        },
        "policies": dict(state.policies),
    }


def _decode_role_state(raw: Any) -> RoleState:
    r = raw["role"]
    return RoleState(
        IamRole(
            _str(r["name"]),
            _str(r["id"]),
            _str(r["path"]),
            _optional_str(r["description"]),
            _str(r["trust"]),
            _int(r["max_session"]),
            _float(r["created"]),
            _tags(r["tags"]),
        ),
        _tags(raw["policies"]),
    )


def _sts_session(s: StsSession) -> dict[str, Any]:
    return {
        "id": s.access_key_id,
        "secret": s.secret,
        "token_sha256": s.token_sha256,
        "kind": s.kind,
        "owner": s.owner_name,
        "name": s.session_name,
        "tags": dict(s.tags),
        "policy": s.session_policy,
        "created": s.created,
        "expires": s.expires,
    }


def _decode_sts_session(raw: Any) -> StsSession:
    return StsSession(
        _str(raw["id"]),
        _str(raw["secret"]),
        _str(raw["token_sha256"]),
        _str(raw["kind"]),
        _str(raw["owner"]),
        _str(raw["name"]),
        _tags(raw["tags"]),
        _optional_str(raw["policy"]),
        _float(raw["created"]),
        _float(raw["expires"]),
    )


# --- strict scalars ---------------------------------------------------------------------------


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _optional_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return tuple(_str(v) for v in value)


def _tags(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {value!r}")
    return {_str(k): _str(v) for k, v in value.items()}


def _optional_mapping(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {value!r}")
    return value


# --- the operator's cluster-wide questions (``<prefix>:admin``) ---------------------------------
#
# Not batches: an *ask* goes to every node on the admin channel, and each node answers with one
# *answer* pushed on the ask's reply key (a Redis list the asker pops, so an answer waits there
# even if it arrives before the asker listens)::
#
#     {"v": 1, "t": "ask", "id": "<ask id>", "node": "<asker>", "reply": "<key>", "q": "sessions",
#      "u": "<user ARN>" (optional), "start": 0, "limit": 100}
#     {"v": 1, "t": "ans", "id": "<ask id>", "node": "<node id>", "name": "<host (pid n)>",
#      "s": [{"u": user ARN, "sid": session id, "since": epoch seconds, "est": established,
#             "buf": buffered bytes}, ...], "more": <this node has more beyond the page>}
#
# ``start`` and ``limit`` page each node's own index (in its connection order): page k of the
# cluster's list is page k of every node's, so no node ever copies its whole index.


@dataclass(frozen=True, slots=True)
class SessionInfo:
    user_arn: str
    session_id: str
    since: float  # wall clock, epoch seconds
    established: bool
    buffered: int  # bytes waiting to be written


@dataclass(frozen=True, slots=True)
class SessionsAsk:
    ask_id: str
    node: str  # the asker, which answers itself without the bus
    reply: str  # the key the answers are pushed on
    user_arn: str | None  # only this user's sessions
    start: int
    limit: int


@dataclass(frozen=True, slots=True)
class SessionsAnswer:
    ask_id: str
    node: str
    name: str  # for people: host and process
    sessions: tuple[SessionInfo, ...]
    more: bool


@dataclass(frozen=True, slots=True)
class NodeSession:
    node: str  # the answering node's name
    session: SessionInfo


@dataclass(frozen=True, slots=True)
class ClusterSessions:
    """The sessions of every node that answered, oldest first."""

    sessions: tuple[NodeSession, ...]
    answered: tuple[str, ...]  # names of the nodes that answered
    missing: tuple[str, ...]  # names of live nodes that did not answer in time
    truncated: bool  # some node holds more beyond this page


def encode_ask(ask: SessionsAsk) -> bytes:
    document: dict[str, Any] = {
        "v": VERSION,
        "t": "ask",
        "id": ask.ask_id,
        "node": ask.node,
        "reply": ask.reply,
        "q": "sessions",
        "start": ask.start,
        "limit": ask.limit,
    }
    if ask.user_arn is not None:
        document["u"] = ask.user_arn
    return compact_unicode(document).encode()


def decode_ask(data: bytes | str) -> SessionsAsk:
    raw = _document(data, "ask")
    try:
        if raw["q"] != "sessions":
            raise WireError(f"unknown question {raw['q']!r}")
        start, limit = _int(raw["start"]), _int(raw["limit"])
        if start < 0 or limit < 1:
            raise WireError("start must be >= 0 and limit >= 1")
        return SessionsAsk(
            _str(raw["id"]),
            _str(raw["node"]),
            _str(raw["reply"]),
            _optional_str(raw.get("u")),
            start,
            limit,
        )
    except (KeyError, TypeError) as exc:
        raise WireError(f"malformed ask: {exc!r}") from None


def encode_answer(answer: SessionsAnswer) -> bytes:
    document = {
        "v": VERSION,
        "t": "ans",
        "id": answer.ask_id,
        "node": answer.node,
        "name": answer.name,
        "s": [
            {
                "u": s.user_arn,
                "sid": s.session_id,
                "since": s.since,
                "est": s.established,
                "buf": s.buffered,
            }
            for s in answer.sessions
        ],
        "more": answer.more,
    }
    return compact_unicode(document).encode()


def decode_answer(data: bytes | str) -> SessionsAnswer:
    raw = _document(data, "ans")
    try:
        sessions = raw["s"]
        if not isinstance(sessions, list):
            raise TypeError("s must be a list")
        return SessionsAnswer(
            _str(raw["id"]),
            _str(raw["node"]),
            _str(raw["name"]),
            tuple(
                SessionInfo(
                    _str(s["u"]),
                    _str(s["sid"]),
                    _float(s["since"]),
                    _bool(s["est"]),
                    _int(s["buf"]),
                )
                for s in sessions
            ),
            _bool(raw["more"]),
        )
    except (KeyError, TypeError) as exc:
        raise WireError(f"malformed answer: {exc!r}") from None


def merge(answers: Sequence[SessionsAnswer], live: Mapping[str, str]) -> ClusterSessions:
    """The cluster's list from the nodes' answers (one per node; a repeated one is ignored).

    ``live`` maps the node ids known to be running to their names: those that did not answer
    are ``missing``."""
    seen: dict[str, SessionsAnswer] = {}
    for answer in answers:
        seen.setdefault(answer.node, answer)
    rows = sorted(
        (NodeSession(a.name, s) for a in seen.values() for s in a.sessions),
        key=lambda r: (r.session.since, r.session.session_id),
    )
    return ClusterSessions(
        sessions=tuple(rows),
        answered=tuple(sorted(a.name for a in seen.values())),
        missing=tuple(sorted(name for node, name in live.items() if node not in seen)),
        truncated=any(a.more for a in seen.values()),
    )


def _document(data: bytes | str, kind: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("v") != VERSION:
        raise WireError("not a version 1 admin message")
    if document.get("t") != kind:
        raise WireError(f"not an {kind}")
    return document


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value
