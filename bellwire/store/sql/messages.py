"""Channel messages."""

from __future__ import annotations

import json
from typing import Any

from bellwire.records.chime import Message
from bellwire.store.sql.common import Row, SqlBase, json_column

MESSAGE_COLUMNS = _MESSAGE_COLUMNS = (
    "channel_arn, message_id, seq, sender_arn, sender_name, content, metadata, type, "
    "persistence, redacted, created, last_updated, last_edited, status, attributes, "
    "content_type, target_arn, push, sub_channel_id"
)


def in_live_sub_channel(table: str) -> str:
    """The condition that a message of ``table`` (its name or alias) is reachable: of no
    sub-channel, or of one that exists. A SCALE_IN leaves the messages of the sub-channel it
    deleted to the purge; until then every read that is not of one named, live sub-channel
    passes them over. A regular channel's messages answer at the first test."""
    return (
        f"({table}.sub_channel_id IS NULL OR EXISTS (SELECT 1 FROM sub_channels sc "
        f"WHERE sc.channel_arn = {table}.channel_arn "
        f"AND sc.sub_channel_id = {table}.sub_channel_id))"
    )


def _message(row: Row) -> Message:
    # Positional (the columns are in Message's field order) and JSON parsed only where there is
    # some: a listing or a prefetched CHANNEL_DETAILS decodes 20 to 50 of these, 1.0 µs a row
    # instead of 1.7 with keywords and a call per JSON column.
    attributes = row[14]
    push = row[17]
    return Message(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        bool(row[9]),
        row[10],
        row[11],
        row[12],
        row[13],
        None if attributes is None else json.loads(attributes),
        row[15],
        row[16],
        None if push is None else json.loads(push),
        row[18],
    )


INSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def message_params(m: Message) -> tuple[Any, ...]:
    """``m`` as the values of ``MESSAGE_COLUMNS``, in their order."""
    return (
        m.channel_arn,
        m.message_id,
        m.seq,
        m.sender_arn,
        m.sender_name,
        m.content,
        m.metadata,
        m.type,
        m.persistence,
        int(m.redacted),
        m.created,
        m.last_updated,
        m.last_edited,
        m.status,
        json_column(m.attributes),
        m.content_type,
        m.target_arn,
        json_column(m.push),
        m.sub_channel_id,
    )


class MessagesSql(SqlBase):
    __slots__ = ()

    # --- messages ---------------------------------------------------------------------------

    def insert_message(self, m: Message) -> None:
        self._run(INSERT_MESSAGE, message_params(m))

    def message(self, channel_arn: str, message_id: str) -> Message | None:
        row = self._one(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE channel_arn = ? AND message_id = ? "
            f"AND {in_live_sub_channel('messages')}",
            (channel_arn, message_id),
        )
        return None if row is None else _message(row)

    def message_exists(self, channel_arn: str, message_id: str) -> bool:
        return (
            self._one(
                "SELECT 1 FROM messages WHERE channel_arn = ? AND message_id = ? "
                f"AND {in_live_sub_channel('messages')}",
                (channel_arn, message_id),
            )
            is not None
        )

    def update_message(
        self,
        channel_arn: str,
        message_id: str,
        *,
        content: str | None,
        metadata: str | None,
        content_type: str | None,
        redacted: bool,
        now: float,
        edited: bool,
    ) -> None:
        self._run(
            "UPDATE messages SET content = ?, metadata = ?, content_type = ?, redacted = ?, "
            "last_updated = ?, last_edited = CASE WHEN ? = 1 THEN ? ELSE last_edited END "
            "WHERE channel_arn = ? AND message_id = ?",
            (
                content,
                metadata,
                content_type,
                int(redacted),
                now,
                int(edited),
                now,
                channel_arn,
                message_id,
            ),
        )

    def delete_message(self, channel_arn: str, message_id: str) -> None:
        self._run(
            "DELETE FROM messages WHERE channel_arn = ? AND message_id = ?",
            (channel_arn, message_id),
        )

    def list_messages(
        self,
        channel_arn: str,
        *,
        viewer: str | None,
        descending: bool,
        not_before: float | None,
        not_after: float | None,
        after_seq: int | None,
        limit: int,
        sub_channel_id: str | None = None,
    ) -> list[Message]:
        """Messages in channel order (by sequence), skipping those targeted at someone else;
        with ``sub_channel_id``, those of one sub-channel of an elastic channel."""
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE channel_arn = ?"
        params: list[Any] = [channel_arn]
        if sub_channel_id is not None:  # the caller read it in this transaction
            sql += " AND sub_channel_id = ?"
            params.append(sub_channel_id)
        else:
            sql += f" AND {in_live_sub_channel('messages')}"
        if viewer is not None:
            # Targeted messages reach their target and sender; a message held or failed by a
            # channel flow (status other than SENT) only its sender.
            sql += (
                " AND (target_arn IS NULL OR target_arn = ? OR sender_arn = ?)"
                " AND (status = 'SENT' OR sender_arn = ?)"
            )
            params += [viewer, viewer, viewer]
        # ``+created``: walk the channel in sequence order and stop at the page's end. Offered
        # the (channel, created) index, SQLite took it and sorted every message of the time
        # range, the whole channel for a NotAfter alone.
        if not_before is not None:
            sql += " AND +created >= ?"
            params.append(not_before)
        if not_after is not None:
            sql += " AND +created <= ?"
            params.append(not_after)
        if after_seq is not None:
            sql += " AND seq < ?" if descending else " AND seq > ?"
            params.append(after_seq)
        sql += " ORDER BY seq DESC" if descending else " ORDER BY seq ASC"
        rows = self._all(sql + " LIMIT ?", [*params, limit])
        return [_message(r) for r in rows]
