"""Sub-channels of elastic channels: their counts, and the memberships held in each.

Every query here is bounded by one sub-channel (or by the channel's few sub-channel rows): the
counts are kept in ``sub_channels`` as memberships come and go, so nothing counts or scans the
memberships of the whole channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bellwire.records.chime import Membership, SubChannel
from bellwire.store.sql.channels import _MEMBERSHIP_COLUMNS, _membership
from bellwire.store.sql.common import SqlBase

_SUB_CHANNEL_COLUMNS = "channel_arn, sub_channel_id, ordinal, members, moderators, created"


class SubChannelsSql(SqlBase):
    __slots__ = ()

    def insert_sub_channel(self, s: SubChannel) -> None:
        # Only an import can bring back a SubChannelId a SCALE_IN deleted (a new one is random):
        # it starts empty, as a channel created again does.
        self._run(
            "DELETE FROM messages WHERE channel_arn = ? AND sub_channel_id = ? AND EXISTS "
            "(SELECT 1 FROM sub_channel_purges WHERE channel_arn = ? AND sub_channel_id = ?)",
            (s.channel_arn, s.sub_channel_id, s.channel_arn, s.sub_channel_id),
        )
        self._run(
            "DELETE FROM sub_channel_purges WHERE channel_arn = ? AND sub_channel_id = ?",
            (s.channel_arn, s.sub_channel_id),
        )
        self._run(
            f"INSERT INTO sub_channels ({_SUB_CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (s.channel_arn, s.sub_channel_id, s.ordinal, s.members, s.moderators, s.created),
        )

    def sub_channels(self, channel_arn: str) -> list[SubChannel]:
        """All sub-channels of a channel (at most its MaximumSubChannels), oldest first."""
        rows = self._all(
            f"SELECT {_SUB_CHANNEL_COLUMNS} FROM sub_channels WHERE channel_arn = ? "
            "ORDER BY ordinal",
            (channel_arn,),
        )
        return [SubChannel(*r) for r in rows]

    def sub_channel(self, channel_arn: str, sub_channel_id: str) -> SubChannel | None:
        row = self._one(
            f"SELECT {_SUB_CHANNEL_COLUMNS} FROM sub_channels "
            "WHERE channel_arn = ? AND sub_channel_id = ?",
            (channel_arn, sub_channel_id),
        )
        return None if row is None else SubChannel(*row)

    def count_sub_channel(
        self, channel_arn: str, sub_channel_id: str, *, members: int = 0, moderators: int = 0
    ) -> None:
        self._run(
            "UPDATE sub_channels SET members = members + ?, moderators = moderators + ? "
            "WHERE channel_arn = ? AND sub_channel_id = ?",
            (members, moderators, channel_arn, sub_channel_id),
        )

    def next_sub_seqs(self, channel_arn: str, sub_channel_id: str, count: int) -> int | None:
        """Reserve the sub-channel's next ``count`` event numbers; the last of them, or None
        when the sub-channel does not exist (deleted in this transaction)."""
        row = self._one(
            "UPDATE sub_channels SET seq = seq + ? WHERE channel_arn = ? AND sub_channel_id = ? "
            "RETURNING seq",
            (count, channel_arn, sub_channel_id),
        )
        return None if row is None else int(row[0])

    def sub_channel_positions(self, channel_arns: Sequence[str]) -> dict[tuple[str, str], int]:
        """The current number of every sub-channel of ``channel_arns`` ((channel, sub-channel)
        -> seq): the position check and a connect's snapshot. A channel has at most its
        MaximumSubChannels rows; chunks stay below every engine's limit on parameters."""
        positions: dict[tuple[str, str], int] = {}
        for start in range(0, len(channel_arns), 500):
            chunk = channel_arns[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for arn, sub, seq in self._all(
                "SELECT channel_arn, sub_channel_id, seq FROM sub_channels "
                f"WHERE channel_arn IN ({marks})",
                chunk,
            ):
                positions[(arn, sub)] = int(seq)
        return positions

    def delete_sub_channel(self, channel_arn: str, sub_channel_id: str) -> None:
        """The sub-channel with its remaining memberships (its moderators'). Its messages are
        left to ``UpkeepSql.purge_deleted_messages``, so that the leave that emptied it does
        not wait for a long history's deletion (nothing reads them without the sub-channel)."""
        for table in ("memberships", "sub_channels"):
            self._run(
                f"DELETE FROM {table} WHERE channel_arn = ? AND sub_channel_id = ?",
                (channel_arn, sub_channel_id),
            )
        self._run(
            "INSERT INTO sub_channel_purges (channel_arn, sub_channel_id, upto) "
            "SELECT arn, ?, seq FROM channels WHERE arn = ? "
            "ON CONFLICT (channel_arn, sub_channel_id) DO NOTHING",
            (sub_channel_id, channel_arn),
        )

    def count_elastic_channels(self, app_instance_arn: str) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM channels "
            "WHERE app_instance_arn = ? AND elastic_target_memberships IS NOT NULL",
            (app_instance_arn,),
        )
        return int(row[0]) if row else 0

    # --- memberships in sub-channels --------------------------------------------------------

    def memberships_in_channel(self, channel_arn: str, member_arn: str) -> list[Membership]:
        """Every membership a user holds in a channel (several for an elastic moderator)."""
        rows = self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? "
            "AND member_arn = ? ORDER BY sub_channel_id",
            (channel_arn, member_arn),
        )
        return [_membership(r) for r in rows]

    def sub_channel_membership(
        self, channel_arn: str, sub_channel_id: str, member_arn: str
    ) -> Membership | None:
        row = self._one(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? "
            "AND member_arn = ? AND sub_channel_id = ?",
            (channel_arn, member_arn, sub_channel_id),
        )
        return None if row is None else _membership(row)

    def delete_sub_channel_membership(
        self, channel_arn: str, sub_channel_id: str, member_arn: str
    ) -> None:
        self._run(
            "DELETE FROM memberships WHERE channel_arn = ? AND member_arn = ? "
            "AND sub_channel_id = ?",
            (channel_arn, member_arn, sub_channel_id),
        )

    def list_sub_channel_memberships(
        self,
        channel_arn: str,
        sub_channel_id: str | None,
        type: str | None,
        after: str | None,
        limit: int,
    ) -> list[Membership]:
        """One sub-channel's memberships (all the channel's with None), by member ARN."""
        sql = f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ?"
        params: list[Any] = [channel_arn]
        if sub_channel_id is not None:
            sql += " AND sub_channel_id = ?"
            params.append(sub_channel_id)
        sql += " AND member_arn > ?"
        params.append(after or "")
        if type is not None:
            sql += " AND type = ?"
            params.append(type)
        rows = self._all(sql + " ORDER BY member_arn, sub_channel_id LIMIT ?", [*params, limit])
        return [_membership(r) for r in rows]

    def movable_members(
        self, channel_arn: str, sub_channel_id: str, limit: int
    ) -> list[Membership]:
        """The ``limit`` newest regular members of a sub-channel: those balancing moves first
        (they have the least history where they are)."""
        rows = self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? "
            "AND sub_channel_id = ? AND moderator = 0 ORDER BY created DESC, member_arn DESC "
            "LIMIT ?",
            (channel_arn, sub_channel_id, limit),
        )
        return [_membership(r) for r in rows]

    def moderator_memberships_in(self, channel_arn: str, sub_channel_id: str) -> list[Membership]:
        rows = self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE channel_arn = ? "
            "AND sub_channel_id = ? AND moderator = 1 ORDER BY member_arn",
            (channel_arn, sub_channel_id),
        )
        return [_membership(r) for r in rows]

    def move_membership(
        self, channel_arn: str, member_arn: str, source: str, target: str, now: float
    ) -> None:
        self._run(
            "UPDATE memberships SET sub_channel_id = ?, updated = ? "
            "WHERE channel_arn = ? AND member_arn = ? AND sub_channel_id = ?",
            (target, now, channel_arn, member_arn, source),
        )
