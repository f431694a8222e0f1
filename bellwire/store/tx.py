"""The repository the domain rules run against: one transaction, portable SQL, plain records.

An engine (``sqlite.py``, later ``postgres.py``) owns connections and commits; it hands the
domain a :class:`Tx` bound to an open transaction. Nothing outside ``store/`` writes SQL.
Listing methods take the sort key to start *after* and return at most ``limit`` records: the
domain turns those into NextTokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from bellwire.domain.records import (
    Admin,
    AppInstance,
    AppInstanceUser,
    Ban,
    Channel,
    Membership,
    Message,
    Moderator,
)

Row = Sequence[Any]


class Cursor(Protocol):
    """The slice of DB-API an engine provides; placeholders are ``?``."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> list[Row]: ...


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _unjson(value: str | None) -> Any:
    return None if value is None else json.loads(value)


_CHANNEL_COLUMNS = (
    "arn, app_instance_arn, name, mode, privacy, metadata, created_by, created, updated, "
    "last_message, seq, expiration_days, expiration_criterion"
)
_MEMBERSHIP_COLUMNS = (
    "channel_arn, member_arn, type, invited_by, created, updated, read_marker, preferences"
)
_MESSAGE_COLUMNS = (
    "channel_arn, message_id, seq, sender_arn, sender_name, content, metadata, type, "
    "persistence, redacted, created, last_updated, last_edited, status, attributes, "
    "content_type, target_arn, push"
)


def _channel(row: Row) -> Channel:
    return Channel(*row)


def _membership(row: Row) -> Membership:
    return Membership(
        channel_arn=row[0],
        member_arn=row[1],
        type=row[2],
        invited_by=row[3],
        created=row[4],
        updated=row[5],
        read_marker=row[6],
        preferences=_unjson(row[7]),
    )


def _message(row: Row) -> Message:
    return Message(
        channel_arn=row[0],
        message_id=row[1],
        seq=row[2],
        sender_arn=row[3],
        sender_name=row[4],
        content=row[5],
        metadata=row[6],
        type=row[7],
        persistence=row[8],
        redacted=bool(row[9]),
        created=row[10],
        last_updated=row[11],
        last_edited=row[12],
        status=row[13],
        attributes=_unjson(row[14]),
        content_type=row[15],
        target_arn=row[16],
        push=_unjson(row[17]),
    )


class Tx:
    """Queries and changes inside one transaction."""

    __slots__ = ("_cur",)

    def __init__(self, cursor: Cursor) -> None:
        self._cur = cursor

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cur.execute(sql, params)
        return self._cur.fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cur.execute(sql, params)
        return self._cur.fetchall()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(sql, params)

    # --- idempotency ------------------------------------------------------------------------

    def idempotent_result(self, scope: str, token: str) -> tuple[str, Any] | None:
        row = self._one(
            "SELECT fingerprint, result FROM idempotency WHERE scope = ? AND token = ?",
            (scope, token),
        )
        return None if row is None else (row[0], json.loads(row[1]))

    def remember_result(
        self, scope: str, token: str, fingerprint: str, result: Any, now: float
    ) -> None:
        self._run(
            "INSERT INTO idempotency (scope, token, fingerprint, result, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (scope, token, fingerprint, json.dumps(result), now),
        )

    def forget_result(self, scope: str, token: str) -> None:
        self._run("DELETE FROM idempotency WHERE scope = ? AND token = ?", (scope, token))

    # --- app instances ----------------------------------------------------------------------

    def insert_app_instance(self, ai: AppInstance) -> None:
        self._run(
            "INSERT INTO app_instances (arn, name, metadata, created, updated) "
            "VALUES (?, ?, ?, ?, ?)",
            (ai.arn, ai.name, ai.metadata, ai.created, ai.updated),
        )

    def app_instance(self, arn: str) -> AppInstance | None:
        row = self._one(
            "SELECT arn, name, metadata, created, updated FROM app_instances WHERE arn = ?",
            (arn,),
        )
        return None if row is None else AppInstance(*row)

    def update_app_instance(self, arn: str, name: str, metadata: str | None, now: float) -> None:
        self._run(
            "UPDATE app_instances SET name = ?, metadata = ?, updated = ? WHERE arn = ?",
            (name, metadata, now, arn),
        )

    def list_app_instances(self, after: str | None, limit: int) -> list[AppInstance]:
        rows = self._all(
            "SELECT arn, name, metadata, created, updated FROM app_instances "
            "WHERE arn > ? ORDER BY arn LIMIT ?",
            (after or "", limit),
        )
        return [AppInstance(*r) for r in rows]

    def retention_days(self, arn: str) -> int | None:
        row = self._one("SELECT retention_days FROM app_instances WHERE arn = ?", (arn,))
        return None if row is None else row[0]

    def set_retention_days(self, arn: str, days: int | None) -> None:
        self._run("UPDATE app_instances SET retention_days = ? WHERE arn = ?", (days, arn))

    def delete_app_instance(self, arn: str) -> list[str]:
        """Delete the instance and everything in it; returns the ARNs of its channels."""
        channels = [
            r[0] for r in self._all("SELECT arn FROM channels WHERE app_instance_arn = ?", (arn,))
        ]
        for channel_arn in channels:
            self.delete_channel(channel_arn)
        users = [
            r[0] for r in self._all("SELECT arn FROM users WHERE app_instance_arn = ?", (arn,))
        ]
        for user_arn in users:
            self.delete_user(user_arn)
        self._run("DELETE FROM admins WHERE app_instance_arn = ?", (arn,))
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))
        self._run("DELETE FROM app_instances WHERE arn = ?", (arn,))
        return channels

    # --- users and admins -------------------------------------------------------------------

    def insert_user(self, u: AppInstanceUser) -> None:
        self._run(
            "INSERT INTO users (arn, app_instance_arn, name, metadata, created, updated, "
            "expiration_days, expiration_criterion) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                u.arn,
                u.app_instance_arn,
                u.name,
                u.metadata,
                u.created,
                u.updated,
                u.expiration_days,
                u.expiration_criterion,
            ),
        )

    _USER = (
        "SELECT arn, app_instance_arn, name, metadata, created, updated, expiration_days, "
        "expiration_criterion FROM users"
    )

    def user(self, arn: str) -> AppInstanceUser | None:
        row = self._one(self._USER + " WHERE arn = ?", (arn,))
        return None if row is None else AppInstanceUser(*row)

    def update_user(self, arn: str, name: str, metadata: str | None, now: float) -> None:
        self._run(
            "UPDATE users SET name = ?, metadata = ?, updated = ? WHERE arn = ?",
            (name, metadata, now, arn),
        )

    def set_user_expiration(
        self, arn: str, days: int | None, criterion: str | None, now: float
    ) -> None:
        self._run(
            "UPDATE users SET expiration_days = ?, expiration_criterion = ?, updated = ? "
            "WHERE arn = ?",
            (days, criterion, now, arn),
        )

    def list_users(
        self, app_instance_arn: str, after: str | None, limit: int
    ) -> list[AppInstanceUser]:
        rows = self._all(
            self._USER + " WHERE app_instance_arn = ? AND arn > ? ORDER BY arn LIMIT ?",
            (app_instance_arn, after or "", limit),
        )
        return [AppInstanceUser(*r) for r in rows]

    def delete_user(self, arn: str) -> list[str]:
        """Delete the user with its memberships, moderations, bans and admin rights.

        Returns the channels it was a member of, whose sessions must hear of it."""
        channels = [
            r[0]
            for r in self._all("SELECT channel_arn FROM memberships WHERE member_arn = ?", (arn,))
        ]
        self._run("DELETE FROM memberships WHERE member_arn = ?", (arn,))
        self._run("DELETE FROM moderators WHERE moderator_arn = ?", (arn,))
        self._run("DELETE FROM bans WHERE member_arn = ?", (arn,))
        self._run("DELETE FROM admins WHERE admin_arn = ?", (arn,))
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))
        self._run("DELETE FROM users WHERE arn = ?", (arn,))
        return channels

    def user_names(self, arns: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(arns))
        names: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for arn, name in self._all(
                f"SELECT arn, name FROM users WHERE arn IN ({marks})", chunk
            ):
                names[arn] = name
        return names

    def insert_admin(self, a: Admin) -> None:
        self._run(
            "INSERT INTO admins (app_instance_arn, admin_arn, created) VALUES (?, ?, ?)",
            (a.app_instance_arn, a.admin_arn, a.created),
        )

    def admin(self, app_instance_arn: str, admin_arn: str) -> Admin | None:
        row = self._one(
            "SELECT app_instance_arn, admin_arn, created FROM admins "
            "WHERE app_instance_arn = ? AND admin_arn = ?",
            (app_instance_arn, admin_arn),
        )
        return None if row is None else Admin(*row)

    def delete_admin(self, app_instance_arn: str, admin_arn: str) -> None:
        self._run(
            "DELETE FROM admins WHERE app_instance_arn = ? AND admin_arn = ?",
            (app_instance_arn, admin_arn),
        )

    def list_admins(self, app_instance_arn: str, after: str | None, limit: int) -> list[Admin]:
        rows = self._all(
            "SELECT app_instance_arn, admin_arn, created FROM admins "
            "WHERE app_instance_arn = ? AND admin_arn > ? ORDER BY admin_arn LIMIT ?",
            (app_instance_arn, after or "", limit),
        )
        return [Admin(*r) for r in rows]

    def count_admins(self, app_instance_arn: str) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM admins WHERE app_instance_arn = ?", (app_instance_arn,)
        )
        return int(row[0]) if row else 0

    # --- tags -------------------------------------------------------------------------------

    def tags(self, arn: str) -> dict[str, str]:
        rows = self._all(
            "SELECT tag_key, tag_value FROM tags WHERE resource_arn = ? ORDER BY tag_key", (arn,)
        )
        return {k: v for k, v in rows}

    def put_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._run(
                "INSERT INTO tags (resource_arn, tag_key, tag_value) VALUES (?, ?, ?) "
                "ON CONFLICT (resource_arn, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                (arn, key, value),
            )

    def delete_tags(self, arn: str, keys: Iterable[str]) -> None:
        for key in keys:
            self._run("DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?", (arn, key))

    # --- channels ---------------------------------------------------------------------------

    def insert_channel(self, c: Channel) -> None:
        self._run(
            f"INSERT INTO channels ({_CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                c.arn,
                c.app_instance_arn,
                c.name,
                c.mode,
                c.privacy,
                c.metadata,
                c.created_by,
                c.created,
                c.updated,
                c.last_message,
                c.seq,
                c.expiration_days,
                c.expiration_criterion,
            ),
        )

    def channel(self, arn: str) -> Channel | None:
        row = self._one(f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE arn = ?", (arn,))
        return None if row is None else _channel(row)

    def update_channel(
        self, arn: str, name: str, mode: str, metadata: str | None, now: float
    ) -> None:
        self._run(
            "UPDATE channels SET name = ?, mode = ?, metadata = ?, updated = ? WHERE arn = ?",
            (name, mode, metadata, now, arn),
        )

    def set_channel_expiration(self, arn: str, days: int | None, criterion: str | None) -> None:
        self._run(
            "UPDATE channels SET expiration_days = ?, expiration_criterion = ? WHERE arn = ?",
            (days, criterion, arn),
        )

    def next_seq(self, channel_arn: str) -> int:
        """Reserve the channel's next event sequence number."""
        row = self._one(
            "UPDATE channels SET seq = seq + 1 WHERE arn = ? RETURNING seq", (channel_arn,)
        )
        if row is None:
            raise LookupError(channel_arn)
        return int(row[0])

    def touch_last_message(self, channel_arn: str, now: float) -> None:
        self._run("UPDATE channels SET last_message = ? WHERE arn = ?", (now, channel_arn))

    def delete_channel(self, arn: str) -> None:
        for table in ("memberships", "moderators", "bans", "messages"):
            self._run(f"DELETE FROM {table} WHERE channel_arn = ?", (arn,))
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))
        self._run("DELETE FROM channels WHERE arn = ?", (arn,))

    def list_channels(
        self, app_instance_arn: str, privacy: str | None, after: str | None, limit: int
    ) -> list[Channel]:
        sql = f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE app_instance_arn = ? AND arn > ?"
        params: list[Any] = [app_instance_arn, after or ""]
        if privacy is not None:
            sql += " AND privacy = ?"
            params.append(privacy)
        rows = self._all(sql + " ORDER BY arn LIMIT ?", [*params, limit])
        return [_channel(r) for r in rows]

    def channels_with_members(
        self, app_instance_arn: str, members: Sequence[str], match_all: bool
    ) -> list[Channel]:
        """Channels of the instance whose members include all (or any) of ``members``."""
        marks = ",".join("?" * len(members))
        having = len(set(members)) if match_all else 1
        rows = self._all(
            f"SELECT {', '.join('c.' + col.strip() for col in _CHANNEL_COLUMNS.split(','))} "
            "FROM channels c JOIN memberships m ON m.channel_arn = c.arn "
            f"WHERE c.app_instance_arn = ? AND m.member_arn IN ({marks}) "
            "GROUP BY c.arn HAVING COUNT(DISTINCT m.member_arn) >= ? ORDER BY c.arn",
            [app_instance_arn, *members, having],
        )
        return [_channel(r) for r in rows]

    # --- memberships ------------------------------------------------------------------------

    def insert_membership(self, m: Membership) -> None:
        self._run(
            f"INSERT INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.channel_arn,
                m.member_arn,
                m.type,
                m.invited_by,
                m.created,
                m.updated,
                m.read_marker,
                _json(m.preferences),
            ),
        )

    def membership(self, channel_arn: str, member_arn: str) -> Membership | None:
        row = self._one(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? AND member_arn = ?",
            (channel_arn, member_arn),
        )
        return None if row is None else _membership(row)

    def delete_membership(self, channel_arn: str, member_arn: str) -> None:
        self._run(
            "DELETE FROM memberships WHERE channel_arn = ? AND member_arn = ?",
            (channel_arn, member_arn),
        )

    def list_memberships(
        self, channel_arn: str, type: str | None, after: str | None, limit: int
    ) -> list[Membership]:
        sql = f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? AND member_arn > ?"
        params: list[Any] = [channel_arn, after or ""]
        if type is not None:
            sql += " AND type = ?"
            params.append(type)
        rows = self._all(sql + " ORDER BY member_arn LIMIT ?", [*params, limit])
        return [_membership(r) for r in rows]

    def member_arns(self, channel_arn: str) -> list[str]:
        return [
            r[0]
            for r in self._all(
                "SELECT member_arn FROM memberships WHERE channel_arn = ?", (channel_arn,)
            )
        ]

    def memberships_of_user(
        self, member_arn: str, after: str | None, limit: int
    ) -> list[tuple[Membership, Channel]]:
        cols = ", ".join("c." + col.strip() for col in _CHANNEL_COLUMNS.split(","))
        mcols = ", ".join("m." + col.strip() for col in _MEMBERSHIP_COLUMNS.split(","))
        rows = self._all(
            f"SELECT {mcols}, {cols} FROM memberships m JOIN channels c ON c.arn = m.channel_arn "
            "WHERE m.member_arn = ? AND m.channel_arn > ? ORDER BY m.channel_arn LIMIT ?",
            (member_arn, after or "", limit),
        )
        return [(_membership(r[:8]), _channel(r[8:])) for r in rows]

    def set_read_marker(self, channel_arn: str, member_arn: str, now: float) -> None:
        self._run(
            "UPDATE memberships SET read_marker = ? WHERE channel_arn = ? AND member_arn = ?",
            (now, channel_arn, member_arn),
        )

    def set_preferences(
        self, channel_arn: str, member_arn: str, preferences: Mapping[str, Any], now: float
    ) -> None:
        self._run(
            "UPDATE memberships SET preferences = ?, updated = ? "
            "WHERE channel_arn = ? AND member_arn = ?",
            (_json(preferences), now, channel_arn, member_arn),
        )

    # --- moderators and bans ----------------------------------------------------------------

    def insert_moderator(self, m: Moderator) -> None:
        self._run(
            "INSERT INTO moderators (channel_arn, moderator_arn, created_by, created) "
            "VALUES (?, ?, ?, ?)",
            (m.channel_arn, m.moderator_arn, m.created_by, m.created),
        )

    def moderator(self, channel_arn: str, moderator_arn: str) -> Moderator | None:
        row = self._one(
            "SELECT channel_arn, moderator_arn, created_by, created FROM moderators "
            "WHERE channel_arn = ? AND moderator_arn = ?",
            (channel_arn, moderator_arn),
        )
        return None if row is None else Moderator(*row)

    def delete_moderator(self, channel_arn: str, moderator_arn: str) -> None:
        self._run(
            "DELETE FROM moderators WHERE channel_arn = ? AND moderator_arn = ?",
            (channel_arn, moderator_arn),
        )

    def list_moderators(self, channel_arn: str, after: str | None, limit: int) -> list[Moderator]:
        rows = self._all(
            "SELECT channel_arn, moderator_arn, created_by, created FROM moderators "
            "WHERE channel_arn = ? AND moderator_arn > ? ORDER BY moderator_arn LIMIT ?",
            (channel_arn, after or "", limit),
        )
        return [Moderator(*r) for r in rows]

    def channels_moderated_by(
        self, moderator_arn: str, after: str | None, limit: int
    ) -> list[Channel]:
        cols = ", ".join("c." + col.strip() for col in _CHANNEL_COLUMNS.split(","))
        rows = self._all(
            f"SELECT {cols} FROM moderators m JOIN channels c ON c.arn = m.channel_arn "
            "WHERE m.moderator_arn = ? AND m.channel_arn > ? ORDER BY m.channel_arn LIMIT ?",
            (moderator_arn, after or "", limit),
        )
        return [_channel(r) for r in rows]

    def insert_ban(self, b: Ban) -> None:
        self._run(
            "INSERT INTO bans (channel_arn, member_arn, created_by, created) VALUES (?, ?, ?, ?)",
            (b.channel_arn, b.member_arn, b.created_by, b.created),
        )

    def ban(self, channel_arn: str, member_arn: str) -> Ban | None:
        row = self._one(
            "SELECT channel_arn, member_arn, created_by, created FROM bans "
            "WHERE channel_arn = ? AND member_arn = ?",
            (channel_arn, member_arn),
        )
        return None if row is None else Ban(*row)

    def delete_ban(self, channel_arn: str, member_arn: str) -> None:
        self._run(
            "DELETE FROM bans WHERE channel_arn = ? AND member_arn = ?", (channel_arn, member_arn)
        )

    def list_bans(self, channel_arn: str, after: str | None, limit: int) -> list[Ban]:
        rows = self._all(
            "SELECT channel_arn, member_arn, created_by, created FROM bans "
            "WHERE channel_arn = ? AND member_arn > ? ORDER BY member_arn LIMIT ?",
            (channel_arn, after or "", limit),
        )
        return [Ban(*r) for r in rows]

    # --- messages ---------------------------------------------------------------------------

    def insert_message(self, m: Message) -> None:
        self._run(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
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
                _json(m.attributes),
                m.content_type,
                m.target_arn,
                _json(m.push),
            ),
        )

    def message(self, channel_arn: str, message_id: str) -> Message | None:
        row = self._one(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE channel_arn = ? AND message_id = ?",
            (channel_arn, message_id),
        )
        return None if row is None else _message(row)

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
            "last_updated = ?, last_edited = CASE WHEN ? THEN ? ELSE last_edited END "
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
    ) -> list[Message]:
        """Messages in channel order (by sequence), skipping those targeted at someone else."""
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE channel_arn = ?"
        params: list[Any] = [channel_arn]
        if viewer is not None:
            sql += " AND (target_arn IS NULL OR target_arn = ? OR sender_arn = ?)"
            params += [viewer, viewer]
        if not_before is not None:
            sql += " AND created >= ?"
            params.append(not_before)
        if not_after is not None:
            sql += " AND created <= ?"
            params.append(not_after)
        if after_seq is not None:
            sql += " AND seq < ?" if descending else " AND seq > ?"
            params.append(after_seq)
        sql += " ORDER BY seq DESC" if descending else " ORDER BY seq ASC"
        rows = self._all(sql + " LIMIT ?", [*params, limit])
        return [_message(r) for r in rows]

    # --- messaging sessions -----------------------------------------------------------------

    def subscriptions(self, member_arn: str) -> list[tuple[str, int]]:
        """(channel ARN, channel sequence) of every channel the user belongs to, in one snapshot."""
        rows = self._all(
            "SELECT c.arn, c.seq FROM memberships m JOIN channels c ON c.arn = m.channel_arn "
            "WHERE m.member_arn = ?",
            (member_arn,),
        )
        return [(r[0], int(r[1])) for r in rows]

    def memberships_with_channels(self, member_arn: str) -> list[tuple[Membership, Channel]]:
        return self.memberships_of_user(member_arn, None, 1 << 30)

    def has_unread(self, channel_arn: str, member_arn: str, read_marker: float | None) -> bool:
        row = self._one(
            "SELECT 1 FROM messages WHERE channel_arn = ? AND created > ? "
            "AND (target_arn IS NULL OR target_arn = ? OR sender_arn = ?) LIMIT 1",
            (channel_arn, read_marker or 0.0, member_arn, member_arn),
        )
        return row is not None
