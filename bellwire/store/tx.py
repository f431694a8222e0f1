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

from bellwire.records.chime import (
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
    "last_message, seq, expiration_days, expiration_criterion, details_version"
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
            "SELECT fingerprint, result FROM idempotency WHERE token = ? AND scope = ?",
            (token, scope),
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

    def forget_results_before(self, moment: float) -> None:
        self._run("DELETE FROM idempotency WHERE created < ?", (moment,))

    def forget_result(self, scope: str, token: str) -> None:
        self._run("DELETE FROM idempotency WHERE token = ? AND scope = ?", (token, scope))

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
        self._details_changed_for_member(arn)

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
            f"INSERT INTO channels ({_CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                c.details_version,
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

    def next_seq(self, channel_arn: str, *, last_message: float | None = None) -> int:
        """Reserve the channel's next event sequence number; with ``last_message``, also set
        its LastMessageTimestamp (in the same statement: a send is the hottest write)."""
        if last_message is None:
            row = self._one(
                "UPDATE channels SET seq = seq + 1 WHERE arn = ? RETURNING seq", (channel_arn,)
            )
        else:
            row = self._one(
                "UPDATE channels SET seq = seq + 1, last_message = ? WHERE arn = ? RETURNING seq",
                (last_message, channel_arn),
            )
        if row is None:
            raise LookupError(channel_arn)
        return int(row[0])

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

    def members_with_names(
        self, channel_arn: str, type: str, limit: int
    ) -> tuple[list[Membership], dict[str, str]]:
        """The first ``limit`` memberships of a type with their members' names, in one query
        (what CHANNEL_DETAILS shows of every channel of every connecting session)."""
        columns = ", ".join(f"m.{c.strip()}" for c in _MEMBERSHIP_COLUMNS.split(","))
        rows = self._all(
            f"SELECT {columns}, u.name FROM memberships m LEFT JOIN users u ON u.arn = m.member_arn"
            " WHERE m.channel_arn = ? AND m.type = ? ORDER BY m.member_arn LIMIT ?",
            (channel_arn, type, limit),
        )
        names = {row[1]: row[8] for row in rows if row[8] is not None}
        return [_membership(row) for row in rows], names

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
        self._details_changed(channel_arn)

    # CHANNEL_DETAILS shows what these change, and no channel event (no sequence number) says so.

    def _details_changed(self, channel_arn: str) -> None:
        self._run(
            "UPDATE channels SET details_version = details_version + 1 WHERE arn = ?",
            (channel_arn,),
        )

    def _details_changed_for_member(self, member_arn: str) -> None:
        self._run(
            "UPDATE channels SET details_version = details_version + 1 WHERE arn IN "
            "(SELECT channel_arn FROM memberships WHERE member_arn = ?)",
            (member_arn,),
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


# =============================================================================================
# IAM and STS: users, access keys, roles, inline policies and temporary-credential sessions.
# Appended as one section, a Tx subclass, so that it stays apart from the Chime queries; IAM code
# wraps the store's Tx with ``IamTx.of(tx)`` (same transaction, same cursor).
# =============================================================================================

from bellwire.records.iam import (  # noqa: E402 - this section is self-contained on purpose
    AccessKey,
    IamRole,
    IamSnapshot,
    IamUser,
    RoleState,
    StsSession,
    UserState,
    name_key,
)

_IAM_USER_COLUMNS = "name, user_id, path, created, tags"
_IAM_ROLE_COLUMNS = (
    "name, role_id, path, description, trust_policy, max_session_duration, created, tags"
)
_STS_COLUMNS = (
    "access_key_id, secret, token_sha256, kind, owner_name, session_name, tags, "
    "session_policy, created, expires"
)


def _iam_user(row: Row) -> IamUser:
    return IamUser(row[0], row[1], row[2], row[3], _unjson(row[4]) or {})


def _iam_role(row: Row) -> IamRole:
    return IamRole(
        name=row[0],
        role_id=row[1],
        path=row[2],
        description=row[3],
        trust_policy=row[4],
        max_session_duration=int(row[5]),
        created=row[6],
        tags=_unjson(row[7]) or {},
    )


def _sts_session(row: Row) -> StsSession:
    return StsSession(
        access_key_id=row[0],
        secret=row[1],
        token_sha256=row[2],
        kind=row[3],
        owner_name=row[4],
        session_name=row[5],
        tags=_unjson(row[6]) or {},
        session_policy=row[7],
        created=row[8],
        expires=row[9],
    )


class IamTx(Tx):
    """IAM/STS queries inside one transaction."""

    __slots__ = ()

    @classmethod
    def of(cls, tx: Tx) -> IamTx:
        return tx if isinstance(tx, IamTx) else cls(tx._cur)

    # --- users ---------------------------------------------------------------------------------

    def iam_user(self, name: str) -> IamUser | None:
        row = self._one(
            f"SELECT {_IAM_USER_COLUMNS} FROM iam_users WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _iam_user(row)

    def insert_iam_user(self, u: IamUser) -> None:
        self._run(
            "INSERT INTO iam_users (name_key, name, user_id, path, created, tags) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name_key(u.name), u.name, u.user_id, u.path, u.created, _json(dict(u.tags))),
        )

    def delete_iam_user(self, name: str) -> None:
        key = name_key(name)
        self._run("DELETE FROM iam_access_keys WHERE user_key = ?", (key,))
        self._run(
            "DELETE FROM iam_inline_policies WHERE owner_kind = 'user' AND owner_key = ?", (key,)
        )
        self._run("DELETE FROM iam_users WHERE name_key = ?", (key,))

    def list_iam_users(self, path_prefix: str, after: str | None, limit: int) -> list[IamUser]:
        rows = self._all(
            f"SELECT {_IAM_USER_COLUMNS} FROM iam_users WHERE name_key > ? AND path LIKE ? "
            "ESCAPE '\\' ORDER BY name_key LIMIT ?",
            (after or "", _like_prefix(path_prefix), limit),
        )
        return [_iam_user(r) for r in rows]

    def iam_user_state(self, name: str) -> UserState | None:
        user = self.iam_user(name)
        if user is None:
            return None
        return UserState(
            user, tuple(self.access_keys_of(user.name)), self.inline_policies("user", user.name)
        )

    # --- access keys ---------------------------------------------------------------------------

    def insert_access_key(self, k: AccessKey) -> None:
        self._run(
            "INSERT INTO iam_access_keys (access_key_id, user_key, secret, status, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (k.access_key_id, name_key(k.user_name), k.secret, k.status, k.created),
        )

    def access_keys_of(self, user_name: str) -> list[AccessKey]:
        rows = self._all(
            "SELECT k.access_key_id, u.name, k.secret, k.status, k.created "
            "FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "WHERE k.user_key = ? ORDER BY k.created, k.access_key_id",
            (name_key(user_name),),
        )
        return [AccessKey(*r) for r in rows]

    def access_key_owner(self, access_key_id: str) -> str | None:
        """The name of the user owning a long-term access key."""
        row = self._one(
            "SELECT u.name FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "WHERE k.access_key_id = ?",
            (access_key_id,),
        )
        return None if row is None else str(row[0])

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        self._run(
            "UPDATE iam_access_keys SET status = ? WHERE access_key_id = ?",
            (status, access_key_id),
        )

    def delete_access_key(self, access_key_id: str) -> None:
        self._run("DELETE FROM iam_access_keys WHERE access_key_id = ?", (access_key_id,))

    # --- inline policies (owner_kind "user" or "role") ----------------------------------------

    def put_inline_policy(
        self, owner_kind: str, owner_name: str, policy_name: str, document: str
    ) -> None:
        key = (owner_kind, name_key(owner_name), policy_name)
        self._run(
            "DELETE FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            key,
        )
        self._run(
            "INSERT INTO iam_inline_policies (owner_kind, owner_key, policy_name, document) "
            "VALUES (?, ?, ?, ?)",
            (*key, document),
        )

    def inline_policy(self, owner_kind: str, owner_name: str, policy_name: str) -> str | None:
        row = self._one(
            "SELECT document FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            (owner_kind, name_key(owner_name), policy_name),
        )
        return None if row is None else str(row[0])

    def inline_policies(self, owner_kind: str, owner_name: str) -> dict[str, str]:
        rows = self._all(
            "SELECT policy_name, document FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? ORDER BY policy_name",
            (owner_kind, name_key(owner_name)),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def delete_inline_policy(self, owner_kind: str, owner_name: str, policy_name: str) -> None:
        self._run(
            "DELETE FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            (owner_kind, name_key(owner_name), policy_name),
        )

    # --- roles ---------------------------------------------------------------------------------

    def iam_role(self, name: str) -> IamRole | None:
        row = self._one(
            f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _iam_role(row)

    def insert_iam_role(self, r: IamRole) -> None:
        self._run(
            "INSERT INTO iam_roles (name_key, name, role_id, path, description, trust_policy, "
            "max_session_duration, created, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name_key(r.name),
                r.name,
                r.role_id,
                r.path,
                r.description,
                r.trust_policy,
                r.max_session_duration,
                r.created,
                _json(dict(r.tags)),
            ),
        )

    def update_iam_role(self, name: str, *, trust_policy: str, max_session_duration: int) -> None:
        self._run(
            "UPDATE iam_roles SET trust_policy = ?, max_session_duration = ? WHERE name_key = ?",
            (trust_policy, max_session_duration, name_key(name)),
        )

    def delete_iam_role(self, name: str) -> None:
        key = name_key(name)
        self._run(
            "DELETE FROM iam_inline_policies WHERE owner_kind = 'role' AND owner_key = ?", (key,)
        )
        self._run("DELETE FROM iam_roles WHERE name_key = ?", (key,))

    def list_iam_roles(self, path_prefix: str, after: str | None, limit: int) -> list[IamRole]:
        rows = self._all(
            f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles WHERE name_key > ? AND path LIKE ? "
            "ESCAPE '\\' ORDER BY name_key LIMIT ?",
            (after or "", _like_prefix(path_prefix), limit),
        )
        return [_iam_role(r) for r in rows]

    def iam_role_state(self, name: str) -> RoleState | None:
        role = self.iam_role(name)
        if role is None:
            return None
        return RoleState(role, self.inline_policies("role", role.name))

    # --- STS sessions ----------------------------------------------------------------------------

    def insert_sts_session(self, s: StsSession) -> None:
        self._run(
            "INSERT INTO sts_sessions (access_key_id, secret, token_sha256, kind, owner_key, "
            "owner_name, session_name, tags, session_policy, created, expires) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.access_key_id,
                s.secret,
                s.token_sha256,
                s.kind,
                name_key(s.owner_name),
                s.owner_name,
                s.session_name,
                _json(dict(s.tags)),
                s.session_policy,
                s.created,
                s.expires,
            ),
        )

    def delete_sts_sessions_of(self, kind: str, owner_name: str) -> list[str]:
        """Delete the sessions of a deleted role or user; returns their access key ids."""
        key = name_key(owner_name)
        ids = [
            str(r[0])
            for r in self._all(
                "SELECT access_key_id FROM sts_sessions WHERE kind = ? AND owner_key = ?",
                (kind, key),
            )
        ]
        self._run("DELETE FROM sts_sessions WHERE kind = ? AND owner_key = ?", (kind, key))
        return ids

    def prune_sts_sessions(self, expired_before: float) -> list[str]:
        """Forget sessions that expired before ``expired_before``; returns their key ids."""
        ids = [
            str(r[0])
            for r in self._all(
                "SELECT access_key_id FROM sts_sessions WHERE expires < ?", (expired_before,)
            )
        ]
        self._run("DELETE FROM sts_sessions WHERE expires < ?", (expired_before,))
        return ids

    def iam_snapshot(self) -> IamSnapshot:
        """Everything the credential index needs, in one read transaction (startup)."""
        users = self._all(f"SELECT {_IAM_USER_COLUMNS} FROM iam_users ORDER BY name_key")
        keys = self._all(
            "SELECT k.access_key_id, u.name, k.secret, k.status, k.created, k.user_key "
            "FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "ORDER BY k.created, k.access_key_id"
        )
        roles = self._all(f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles ORDER BY name_key")
        policies = self._all(
            "SELECT owner_kind, owner_key, policy_name, document FROM iam_inline_policies "
            "ORDER BY policy_name"
        )
        sessions = self._all(f"SELECT {_STS_COLUMNS} FROM sts_sessions")
        keys_by_user: dict[str, list[AccessKey]] = {}
        for r in keys:
            keys_by_user.setdefault(r[5], []).append(AccessKey(*r[:5]))
        docs: dict[tuple[str, str], dict[str, str]] = {}
        for kind, owner, pname, doc in policies:
            docs.setdefault((kind, owner), {})[pname] = doc
        return IamSnapshot(
            users=tuple(
                UserState(
                    u,
                    tuple(keys_by_user.get(name_key(u.name), ())),
                    docs.get(("user", name_key(u.name)), {}),
                )
                for u in map(_iam_user, users)
            ),
            roles=tuple(
                RoleState(r, docs.get(("role", name_key(r.name)), {}))
                for r in map(_iam_role, roles)
            ),
            sessions=tuple(_sts_session(r) for r in sessions),
        )


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
