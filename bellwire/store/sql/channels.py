"""Channels, their memberships, moderators and bans."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bellwire.records.chime import (
    AppInstanceUser,
    Ban,
    BearerInChannel,
    Channel,
    ElasticConfiguration,
    Membership,
    MemberSummary,
    Moderator,
)
from bellwire.store.sql.common import (
    Row,
    SqlBase,
    flow_processors_column,
    json_column,
    unjson_column,
)

_CHANNEL_COLUMNS = (
    "arn, app_instance_arn, name, mode, privacy, metadata, created_by, created, updated, "
    "last_message, seq, expiration_days, expiration_criterion, details_version, "
    "elastic_max_sub_channels, elastic_target_memberships, elastic_min_percentage"
)
_MEMBERSHIP_COLUMNS = (
    "channel_arn, member_arn, type, invited_by, created, updated, read_marker, preferences, "
    "sub_channel_id, moderator"
)
MEMBERSHIP_WIDTH = 10  # columns of _MEMBERSHIP_COLUMNS
# The same columns qualified for joins (memberships m, channels c), built once: every connect
# with prefetch reads its user's memberships with them.
_C_CHANNEL_COLUMNS = ", ".join("c." + col.strip() for col in _CHANNEL_COLUMNS.split(","))
_M_MEMBERSHIP_COLUMNS = ", ".join("m." + col.strip() for col in _MEMBERSHIP_COLUMNS.split(","))
_USER_COLUMNS = (
    "arn, app_instance_arn, name, metadata, created, updated, expiration_days, expiration_criterion"
)


_MEMBERSHIPS_OF_USER = (
    f"SELECT {_M_MEMBERSHIP_COLUMNS}, {_C_CHANNEL_COLUMNS} FROM memberships m "
    "JOIN channels c ON c.arn = m.channel_arn "
    "WHERE m.member_arn = ? AND m.channel_arn > ? ORDER BY m.channel_arn LIMIT ?"
)

# The DataTypes of streaming configurations (domain/export.py DataType; a test keeps the two
# alike): bearer_in_channel reads each as a column.
STREAM_DATA_TYPES = ("Channel", "ChannelMessage")


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


# The stream ARN of each of STREAM_DATA_TYPES configured for the app instance of channel ``c``.
_STREAMING_OF_C = ", ".join(
    "(SELECT s.resource_arn FROM streaming_configurations s "
    f"WHERE s.app_instance_arn = c.app_instance_arn AND s.data_type = '{data_type}')"
    for data_type in STREAM_DATA_TYPES
)
# Whether a bot of the app instance of channel ``c`` is one of its members.
_HAS_BOTS_OF_C = (
    "EXISTS (SELECT 1 FROM app_instance_bots b JOIN memberships bm "
    "ON bm.channel_arn = c.arn AND bm.member_arn = b.arn "
    "WHERE b.app_instance_arn = c.app_instance_arn)"
)
# SendChannelMessage's role lookups as one statement (they were five round trips on a server
# engine). The outer joins keep one row whether the user or the channel exists or not; the
# membership of a regular channel is its one row under sub-channel '' (an elastic channel's
# moderator may hold one per sub-channel: the caller asks for it on its own).
# Parameters: the bearer, the channel, then the token and the scope of a remembered answer
# (``store/postgres.py`` reads it ahead of a batch's sends and knows that order).
BEARER_IN_CHANNEL = (
    f"SELECT {_prefixed('u', _USER_COLUMNS)}, {_prefixed('c', _CHANNEL_COLUMNS)}, "
    "EXISTS (SELECT 1 FROM admins a "
    "WHERE a.app_instance_arn = c.app_instance_arn AND a.admin_arn = u.arn), "
    "EXISTS (SELECT 1 FROM moderators o WHERE o.channel_arn = c.arn AND o.moderator_arn = u.arn), "
    f"{_prefixed('m', _MEMBERSHIP_COLUMNS)}, "
    # The channel's flow with its processors: a send through it needs nothing more read.
    "fa.flow_arn, cf.processors, "
    f"{_HAS_BOTS_OF_C}, " + _STREAMING_OF_C + ", i.fingerprint, i.result"
    " FROM (SELECT 1 AS one) AS q "
    "LEFT JOIN users u ON u.arn = ? "
    "LEFT JOIN channels c ON c.arn = ? "
    "LEFT JOIN memberships m ON m.channel_arn = c.arn AND m.member_arn = u.arn "
    "AND m.sub_channel_id = '' AND c.elastic_target_memberships IS NULL "
    # At most one row each: a channel has one flow at most (its ARN is the key).
    "LEFT JOIN channel_flow_associations fa ON fa.channel_arn = c.arn "
    "LEFT JOIN channel_flows cf ON cf.arn = fa.flow_arn "
    # One probe of the tokens' index for both columns (two subqueries probed it twice, and it
    # is the one index that every send with a token dirties at a random page).
    "LEFT JOIN idempotency i ON i.token = ? AND i.scope = ?"
)
# What a settled flow message's staging needs of channel ``c`` (``channel_context`` reads it).
CONTEXT_OF_C = f"c.app_instance_arn, {_HAS_BOTS_OF_C}, " + _STREAMING_OF_C
CONTEXT_WIDTH = 2 + len(STREAM_DATA_TYPES)
_APP_INSTANCE_OF_CHANNEL = f"SELECT {CONTEXT_OF_C} FROM channels c WHERE c.arn = ?"
_USER_WIDTH = 8
_CHANNEL_WIDTH = 17


def next_seq_statement(channel_arn: str, last_message: float | None) -> tuple[str, tuple[Any, ...]]:
    """``ChannelsSql.next_seq``'s statement: one row, the number taken."""
    if last_message is None:
        return "UPDATE channels SET seq = seq + 1 WHERE arn = ? RETURNING seq", (channel_arn,)
    return (
        "UPDATE channels SET seq = seq + 1, last_message = ? WHERE arn = ? RETURNING seq",
        (last_message, channel_arn),
    )


def channel_context(row: Row) -> tuple[str, bool, dict[str, str]] | None:
    """The columns of ``CONTEXT_OF_C``: the app instance, whether a bot is a member, the stream
    of each data type configured; None when the channel was not found (outer join)."""
    if row[0] is None:
        return None
    streaming = {
        data_type: stream
        for data_type, stream in zip(STREAM_DATA_TYPES, row[2:CONTEXT_WIDTH], strict=True)
        if stream is not None
    }
    return str(row[0]), bool(row[1]), streaming


def _channel(row: Row) -> Channel:
    elastic = None if row[15] is None else ElasticConfiguration(row[14], row[15], row[16])
    return Channel(*row[:14], elastic=elastic)  # type: ignore[misc]


def _membership(row: Row) -> Membership:
    return Membership(
        channel_arn=row[0],
        member_arn=row[1],
        type=row[2],
        invited_by=row[3],
        created=row[4],
        updated=row[5],
        read_marker=row[6],
        preferences=unjson_column(row[7]),
        sub_channel_id=row[8] or None,
        moderator=bool(row[9]),
    )


class ChannelsSql(SqlBase):
    __slots__ = ()

    # --- channels ---------------------------------------------------------------------------

    def insert_channel(self, c: Channel) -> None:
        # A channel deleted and created again under its ChannelId starts empty, whatever the
        # purge has not removed yet (an index probe that finds nothing for a new ARN).
        for table in ("messages", "memberships"):
            self._run(
                f"DELETE FROM {table} WHERE channel_arn = ? "
                "AND EXISTS (SELECT 1 FROM channel_purges WHERE channel_arn = ?)",
                (c.arn, c.arn),
            )
        self._run("DELETE FROM channel_purges WHERE channel_arn = ?", (c.arn,))
        self._run(
            f"INSERT INTO channels ({_CHANNEL_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                c.elastic.maximum_sub_channels if c.elastic else None,
                c.elastic.target_memberships if c.elastic else None,
                c.elastic.minimum_percentage if c.elastic else None,
            ),
        )

    def channel(self, arn: str) -> Channel | None:
        row = self._one(f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE arn = ?", (arn,))
        return None if row is None else _channel(row)

    def app_instance_of_channel(self, arn: str) -> tuple[str, bool, dict[str, str]] | None:
        row = self._one(_APP_INSTANCE_OF_CHANNEL, (arn,))
        return None if row is None else channel_context(row)

    def bearer_in_channel(
        self, bearer_arn: str, channel_arn: str, *, remembered: tuple[str, str] | None = None
    ) -> BearerInChannel:
        scope, token = remembered or (None, None)
        row = self._one(BEARER_IN_CHANNEL, (bearer_arn, channel_arn, token, scope))
        assert row is not None  # the outer joins always yield the one row
        c0 = _USER_WIDTH
        m0 = c0 + _CHANNEL_WIDTH + 2
        user = None if row[0] is None else AppInstanceUser(*row[:c0])
        channel = None if row[c0] is None else _channel(row[c0 : m0 - 2])
        f0 = m0 + MEMBERSHIP_WIDTH
        membership = None if row[m0] is None else _membership(row[m0:f0])
        if channel is not None and user is not None and channel.elastic is not None:
            membership = self.membership(channel_arn, bearer_arn)
        s0 = f0 + 3 + len(STREAM_DATA_TYPES)
        streaming = {
            data_type: arn
            for data_type, arn in zip(STREAM_DATA_TYPES, row[f0 + 3 : s0], strict=True)
            if arn is not None
        }
        # As idempotent_result answers it (the fingerprint is never NULL in a stored row).
        result = None if row[s0] is None else (row[s0], json.loads(row[s0 + 1]))
        return BearerInChannel(
            user,
            channel,
            bool(row[m0 - 2]),
            bool(row[m0 - 1]),
            membership,
            flow_arn=row[f0],
            flow_processors=None if row[f0 + 1] is None else flow_processors_column(row[f0 + 1]),
            has_bots=bool(row[f0 + 2]),
            streaming=streaming if channel is not None else None,
            remembered_key=remembered,
            remembered=result,
        )

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
        row = self._one(*next_seq_statement(channel_arn, last_message))
        if row is None:
            raise LookupError(channel_arn)
        return int(row[0])

    def next_seqs(self, app_instance_arn: str) -> dict[str, int]:
        """``next_seq`` of every channel of the instance, in one statement (DeleteAppInstance:
        one round trip per channel took PostgreSQL 1 s per 5,000 channels)."""
        rows = self._all(
            "UPDATE channels SET seq = seq + 1 WHERE app_instance_arn = ? RETURNING arn, seq",
            (app_instance_arn,),
        )
        return {arn: int(seq) for arn, seq in rows}

    def channel_positions(self, arns: Sequence[str]) -> dict[str, int]:
        """The current sequence number of each channel of ``arns`` that exists (the position
        check of ``gateway/positions.py``): one indexed lookup per ARN, in chunks that stay
        below every engine's limit on parameters."""
        positions: dict[str, int] = {}
        for start in range(0, len(arns), 500):
            chunk = arns[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for arn, seq in self._all(
                f"SELECT arn, seq FROM channels WHERE arn IN ({marks})", chunk
            ):
                positions[arn] = int(seq)
        return positions

    def delete_channel(self, arn: str) -> None:
        """Everything of the channel but its messages and memberships goes now. Those are left
        to ``UpkeepSql.purge_deleted_messages``, so that deleting a long history or a large
        audience does not hold the writer (nothing reads a channel's messages without its row,
        and every read of a member's memberships joins their channel's)."""
        self._delete_channels("?", (arn,))

    def _delete_channels(self, channels: str, params: Sequence[Any]) -> None:
        """``delete_channel`` of the channels whose ARNs ``channels`` selects (SQL: a
        placeholder, or a sub-select), by set."""
        for table in (
            "moderators",
            "bans",
            "sub_channels",
            "sub_channel_purges",  # the channel's purge takes their messages with the rest
            "channel_flow_associations",
        ):
            self._run(f"DELETE FROM {table} WHERE channel_arn IN ({channels})", params)
        self._run(f"DELETE FROM tags WHERE resource_arn IN ({channels})", params)
        self._run(
            "INSERT INTO channel_purges (channel_arn, upto) SELECT arn, seq FROM channels "
            f"WHERE arn IN ({channels}) ON CONFLICT (channel_arn) DO NOTHING",
            params,
        )
        self._run(f"DELETE FROM channels WHERE arn IN ({channels})", params)

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
            f"INSERT INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                m.channel_arn,
                m.member_arn,
                m.type,
                m.invited_by,
                m.created,
                m.updated,
                m.read_marker,
                json_column(m.preferences),
                m.sub_channel_id or "",
                int(m.moderator),
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

    def member_summaries(self, channel_arn: str, type: str, limit: int) -> list[MemberSummary]:
        """The first ``limit`` members of a type with their names and read markers, in one query
        of the columns shown (what CHANNEL_DETAILS shows of every channel a session prefetches)."""
        rows = self._all(
            "SELECT m.member_arn, u.name, m.read_marker FROM memberships m "
            "LEFT JOIN users u ON u.arn = m.member_arn "
            "WHERE m.channel_arn = ? AND m.type = ? ORDER BY m.member_arn LIMIT ?",
            (channel_arn, type, limit),
        )
        return [MemberSummary._make(row) for row in rows]

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
        rows = self._all(
            _MEMBERSHIPS_OF_USER,
            (member_arn, after or "", limit),
        )
        w = MEMBERSHIP_WIDTH
        return [(_membership(r[:w]), _channel(r[w:])) for r in rows]

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
            (json_column(preferences), now, channel_arn, member_arn),
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
        rows = self._all(
            f"SELECT {_C_CHANNEL_COLUMNS} FROM moderators m JOIN channels c ON c.arn = m.channel_arn "
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
