"""Channel flows, their channels, and the invocations waiting for a processor's callback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bellwire.records.flows import (
    CallbackReads,
    ChannelFlow,
    FailureEvent,
    FlowChannel,
    FlowInvocation,
)
from bellwire.store.sql.channels import CONTEXT_OF_C, CONTEXT_WIDTH, channel_context
from bellwire.store.sql.common import (
    JustWritten,
    Row,
    SqlBase,
    flow_processor_column,
    flow_processor_text,
    flow_processors_column,
    json_column,
    unjson_column,
)
from bellwire.store.sql.messages import in_live_sub_channel

_FLOW_COLUMNS = "arn, app_instance_arn, name, processors, created, updated"
_INVOCATION_COLUMNS = (
    "callback_id, channel_arn, message_id, kind, flow_arn, processor, message, state, created, "
    "ended, detail, fingerprint, step, chain, accepted"
)
_INVOCATION_WIDTH = 15
# A callback's reads as one statement (three round trips on a server engine): its invocation,
# its channel's context and whether its message is stored.
FOR_CALLBACK = (
    f"SELECT {', '.join('i.' + c.strip() for c in _INVOCATION_COLUMNS.split(','))}, "
    f"{CONTEXT_OF_C}, "
    "EXISTS (SELECT 1 FROM messages m "
    "WHERE m.channel_arn = i.channel_arn AND m.message_id = i.message_id "
    f"AND {in_live_sub_channel('m')}) "
    "FROM flow_invocations i LEFT JOIN channels c ON c.arn = i.channel_arn "
    "WHERE i.callback_id = ?"
)

# Only a PENDING invocation is ended: on a server engine another writer may have ended it
# since the unit read it (``postgres._PgTx.end_invocation`` finds out; the embedded engine's
# one writer cannot meet that).
END_INVOCATION = (
    "UPDATE flow_invocations SET state = ?, ended = ?, detail = ?, fingerprint = ? "
    "WHERE callback_id = ? AND state = 'PENDING'"
)

SETTLE_MESSAGE = (
    "UPDATE messages SET seq = COALESCE(?, seq), status = ?, content = ?, metadata = ?, "
    "attributes = ?, content_type = ?, push = ?, last_updated = ?, "
    "last_edited = CASE WHEN ? = 1 THEN ? ELSE last_edited END "
    "WHERE channel_arn = ? AND message_id = ?"
)

_FAILURE_EVENT_COLUMNS = "event_id, body, created, attempts, due"

# Invocations are noted accepted, or handed back, this many at a time: one statement text
# whatever their number (the last chunk repeats its first id), so a server engine prepares it
# once.
CHUNK = 64
_OF_CHUNK = f"state = 'PENDING' AND callback_id IN ({', '.join('?' * CHUNK)})"
_ACCEPT = f"UPDATE flow_invocations SET accepted = ? WHERE {_OF_CHUNK}"
_HAND_BACK = f"UPDATE flow_invocations SET claimed_until = ? WHERE accepted IS NULL AND {_OF_CHUNK}"

# Free to take over: PENDING, not accepted by its processor, and its claim ended before a moment,
# one for the claims of the node that asks and one for the others' (a new invocation's claim is
# its writer's, for ``hold`` seconds after it was created).
_FREE = (
    "state = 'PENDING' AND accepted IS NULL AND COALESCE(claimed_until, created + ?) < "
    "CASE WHEN claimed_by = ? THEN ? ELSE ? END"
)
# Two nodes claiming at once take each row once: the second UPDATE finds the first's claim
# when it re-checks the row it waited for (READ COMMITTED), the embedded engine has one writer.
_CLAIM = (
    f"UPDATE flow_invocations SET claimed_until = ?, claimed_by = ? WHERE {_FREE} AND "
    "callback_id IN "
    f"(SELECT callback_id FROM flow_invocations WHERE {_FREE} ORDER BY created LIMIT ?) "
    f"RETURNING {_INVOCATION_COLUMNS}"
)


def _flow(row: Row) -> ChannelFlow:
    return ChannelFlow(row[0], row[1], row[2], unjson_column(row[3]), row[4], row[5])


# An invocation's message as the send wrote it, for its callback's read (values shared, never
# changed in place). Messages whose callback never comes are dropped in turn.
_MESSAGES = JustWritten(4096)


def _invocation(row: Row) -> FlowInvocation:
    return FlowInvocation(
        callback_id=row[0],
        channel_arn=row[1],
        message_id=row[2],
        kind=row[3],
        flow_arn=row[4],
        processor=flow_processor_column(row[5]),
        message=_MESSAGES.load(row[6]),
        state=row[7],
        created=row[8],
        ended=row[9],
        detail=row[10],
        fingerprint=row[11],
        step=int(row[12]),
        chain=() if row[13] is None else unjson_column(row[13]),
        accepted=row[14],
    )


class FlowsSql(SqlBase):
    __slots__ = ()

    # --- flows ------------------------------------------------------------------------------

    def insert_flow(self, f: ChannelFlow) -> None:
        self._run(
            f"INSERT INTO channel_flows ({_FLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                f.arn,
                f.app_instance_arn,
                f.name,
                json_column(list(f.processors)),
                f.created,
                f.updated,
            ),
        )

    def flow(self, arn: str) -> ChannelFlow | None:
        row = self._one(f"SELECT {_FLOW_COLUMNS} FROM channel_flows WHERE arn = ?", (arn,))
        return None if row is None else _flow(row)

    def flow_processors(self, arn: str) -> Sequence[Mapping[str, Any]] | None:
        """The flow's processors alone (what a send through it needs), None if it is gone."""
        row = self._one("SELECT processors FROM channel_flows WHERE arn = ?", (arn,))
        return None if row is None else flow_processors_column(row[0])

    def update_flow(
        self, arn: str, name: str, processors: Sequence[Mapping[str, Any]], now: float
    ) -> None:
        self._run(
            "UPDATE channel_flows SET name = ?, processors = ?, updated = ? WHERE arn = ?",
            (name, json_column(processors), now, arn),
        )

    def delete_flow(self, arn: str) -> None:
        self._run("DELETE FROM channel_flows WHERE arn = ?", (arn,))
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))

    def list_flows(self, app_instance_arn: str, after: str | None, limit: int) -> list[ChannelFlow]:
        rows = self._all(
            f"SELECT {_FLOW_COLUMNS} FROM channel_flows WHERE app_instance_arn = ? AND arn > ? "
            "ORDER BY arn LIMIT ?",
            (app_instance_arn, after or "", limit),
        )
        return [_flow(r) for r in rows]

    def count_flows(self, app_instance_arn: str) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM channel_flows WHERE app_instance_arn = ?", (app_instance_arn,)
        )
        return int(row[0]) if row else 0

    # --- associations -----------------------------------------------------------------------

    def flow_of_channel(self, channel_arn: str) -> str | None:
        row = self._one(
            "SELECT flow_arn FROM channel_flow_associations WHERE channel_arn = ?", (channel_arn,)
        )
        return None if row is None else str(row[0])

    def associate_flow(self, channel_arn: str, flow_arn: str, now: float) -> None:
        self._run(
            "INSERT INTO channel_flow_associations (channel_arn, flow_arn, created) "
            "VALUES (?, ?, ?)",
            (channel_arn, flow_arn, now),
        )

    def disassociate_flow(self, channel_arn: str) -> None:
        self._run("DELETE FROM channel_flow_associations WHERE channel_arn = ?", (channel_arn,))

    def channels_of_flow(self, flow_arn: str, after: str | None, limit: int) -> list[FlowChannel]:
        """The existing channels associated with the flow, by ARN (a deleted channel's
        association is left behind and ignored here)."""
        rows = self._all(
            "SELECT c.arn, c.name, c.mode, c.privacy, c.metadata FROM channel_flow_associations a "
            "JOIN channels c ON c.arn = a.channel_arn WHERE a.flow_arn = ? AND a.channel_arn > ? "
            "ORDER BY a.channel_arn LIMIT ?",
            (flow_arn, after or "", limit),
        )
        return [FlowChannel(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    # --- invocations ------------------------------------------------------------------------

    def insert_invocation(self, i: FlowInvocation) -> None:
        self._run(
            f"INSERT INTO flow_invocations ({_INVOCATION_COLUMNS}, claimed_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i.callback_id,
                i.channel_arn,
                i.message_id,
                i.kind,
                i.flow_arn,
                flow_processor_text(i.processor),
                _MESSAGES.dump(i.message),
                i.state,
                i.created,
                i.ended,
                i.detail,
                i.fingerprint,
                i.step,
                json_column(list(i.chain)) if i.chain else None,
                i.accepted,
                i.invoker,
            ),
        )

    def invocation(self, callback_id: str) -> FlowInvocation | None:
        row = self._one(
            f"SELECT {_INVOCATION_COLUMNS} FROM flow_invocations WHERE callback_id = ?",
            (callback_id,),
        )
        return None if row is None else _invocation(row)

    def invocation_for_callback(self, callback_id: str) -> CallbackReads | None:
        row = self._one(FOR_CALLBACK, (callback_id,))
        if row is None:
            return None
        end = _INVOCATION_WIDTH + CONTEXT_WIDTH
        return CallbackReads(
            _invocation(row),
            channel_context(row[_INVOCATION_WIDTH:end]),
            bool(row[end]),
        )

    def pending_invocation_of(self, channel_arn: str, message_id: str) -> FlowInvocation | None:
        """The newest invocation of a message still waiting for its processor, if any."""
        row = self._one(
            f"SELECT {_INVOCATION_COLUMNS} FROM flow_invocations "
            "WHERE channel_arn = ? AND message_id = ? AND state = 'PENDING' "
            "ORDER BY created DESC LIMIT 1",
            (channel_arn, message_id),
        )
        return None if row is None else _invocation(row)

    def end_invocation(
        self,
        callback_id: str,
        state: str,
        now: float,
        *,
        detail: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self._end_invocation(callback_id, (state, now, detail, fingerprint, callback_id))

    def _end_invocation(self, callback_id: str, params: tuple[Any, ...]) -> None:
        # ``END_INVOCATION`` with its parameters: what a server engine checks (``_PgTx``).
        self._run(END_INVOCATION, params)

    def pending_invocations(self, created_before: float, limit: int) -> list[FlowInvocation]:
        """Invocations still PENDING that were created before a moment, oldest first."""
        rows = self._all(
            f"SELECT {_INVOCATION_COLUMNS} FROM flow_invocations "
            "WHERE state = 'PENDING' AND created < ? ORDER BY created LIMIT ?",
            (created_before, limit),
        )
        return [_invocation(r) for r in rows]

    def accept_invocations(self, callback_ids: Sequence[str], now: float) -> None:
        """Note that the processors accepted these invocations: no node invokes them again."""
        self._in_chunks(_ACCEPT, now, callback_ids)

    def hand_back_invocations(self, callback_ids: Sequence[str], now: float) -> None:
        """End the caller's claim on these invocations at ``now`` (it stopped making them):
        the next node to look takes them over (those accepted meanwhile stay accepted)."""
        self._in_chunks(_HAND_BACK, now, callback_ids)

    def _in_chunks(self, sql: str, now: float, callback_ids: Sequence[str]) -> None:
        for at in range(0, len(callback_ids), CHUNK):
            chunk = list(callback_ids[at : at + CHUNK])
            chunk += chunk[:1] * (CHUNK - len(chunk))
            self._run(sql, (now, *chunk))

    def claim_invocations(
        self,
        node: str,
        mine_before: float,
        free_before: float,
        hold: float,
        until: float,
        limit: int,
    ) -> list[FlowInvocation]:
        """Claim for ``node`` until ``until`` the oldest invocations still to be invoked whose
        claim ended before ``mine_before`` (``node``'s) or ``free_before`` (the others'; a new
        one is its writer's for ``hold`` seconds), and read them."""
        free = (hold, node, mine_before, free_before)
        rows = self._all(_CLAIM, (until, node, *free, *free, limit))
        return sorted((_invocation(r) for r in rows), key=lambda i: i.created)

    def forget_invocations_before(self, moment: float, limit: int) -> bool:
        """Forget a batch of the invocations that ended before ``moment``, oldest first."""
        return self._forget_oldest(
            "flow_invocations", "ended", moment, limit, also=" AND state <> 'PENDING'"
        )

    # --- failure events waiting for the event bus ---------------------------------------------

    def insert_failure_event(self, e: FailureEvent) -> None:
        self._run(
            f"INSERT INTO flow_failure_events ({_FAILURE_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (e.event_id, e.body, e.created, e.attempts, e.due),
        )

    def due_failure_events(self, now: float, limit: int) -> list[FailureEvent]:
        rows = self._all(
            f"SELECT {_FAILURE_EVENT_COLUMNS} FROM flow_failure_events WHERE due <= ? "
            "ORDER BY due, event_id LIMIT ?",
            (now, limit),
        )
        return [FailureEvent(*r) for r in rows]

    def claim_failure_event(self, event_id: str, attempts: int, due: float) -> bool:
        """Begin delivery ``attempts + 1`` of an event, unless another delivery (on another
        node) claimed it since it was read: only one of them changes the row."""
        row = self._one(
            "UPDATE flow_failure_events SET attempts = attempts + 1, due = ? "
            "WHERE event_id = ? AND attempts = ? RETURNING event_id",
            (due, event_id, attempts),
        )
        return row is not None

    def retry_failure_event(self, event_id: str, due: float) -> None:
        self._run("UPDATE flow_failure_events SET due = ? WHERE event_id = ?", (due, event_id))

    def delete_failure_event(self, event_id: str) -> None:
        self._run("DELETE FROM flow_failure_events WHERE event_id = ?", (event_id,))

    # --- the message a flow decided on --------------------------------------------------------

    def settle_message(
        self,
        channel_arn: str,
        message_id: str,
        *,
        seq: int | None,
        status: str,
        content: str | None,
        metadata: str | None,
        attributes: Mapping[str, Any] | None,
        content_type: str | None,
        push: Mapping[str, Any] | None,
        now: float,
        edited: bool,
    ) -> None:
        """Apply what a flow decided to a stored message: its content as processed, its new
        status and (for a create) its place in the channel, taken when the flow finished."""
        self._run(
            SETTLE_MESSAGE,
            (
                seq,
                status,
                content,
                metadata,
                json_column(attributes),
                content_type,
                json_column(push),
                now,
                int(edited),
                now,
                channel_arn,
                message_id,
            ),
        )
