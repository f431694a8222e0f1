"""What the background sweeper reads and the leases that keep it (and the export relay) to one
node at a time (migration 5)."""

from __future__ import annotations

from collections.abc import Sequence

from bellwire.records.chime import AppInstanceUser, Channel
from bellwire.store.sql.channels import _CHANNEL_COLUMNS, ChannelsSql, _channel

_DAY = 86400.0
# How far, in batches of numbers, a deleted sub-channel's purge looks for its next message in
# one write. A planner may read that window through the channel's (channel, seq) index,
# passing over the other sub-channels' entries: ten batches keep such a read short.
SPAN = 10
# Not MIN(seq): with statistics that have not seen the rows, PostgreSQL aggregates the whole
# window for it; ORDER BY ... LIMIT 1 stops at the first entry it finds.
NEXT_IN_SUB_CHANNEL = (
    "SELECT seq FROM messages WHERE channel_arn = ? AND sub_channel_id = ? "
    "AND seq > ? AND seq <= ? ORDER BY seq LIMIT 1"
)
# Every purge statement deletes only while its purge is still recorded, seen from the
# statement's own snapshot: on a server engine a channel created again under its ChannelId (or
# a sub-channel an import brings back) may commit between the purge's read of its record and
# its delete, and what the new one holds is not the purge's to delete.
_CHANNEL_PURGING = "EXISTS (SELECT 1 FROM channel_purges WHERE channel_arn = ?)"
PURGE_MESSAGES = (
    f"DELETE FROM messages WHERE channel_arn = ? AND seq > ? AND seq <= ? AND {_CHANNEL_PURGING}"
)
PURGE_REST = f"DELETE FROM messages WHERE channel_arn = ? AND {_CHANNEL_PURGING}"
PURGE_MEMBERS = (
    "DELETE FROM memberships WHERE channel_arn = ? AND member_arn > ? AND member_arn <= ? "
    f"AND {_CHANNEL_PURGING}"
)
PURGE_SUB_CHANNEL = (
    "DELETE FROM messages WHERE channel_arn = ? AND sub_channel_id = ? AND seq > ? AND seq <= ? "
    "AND EXISTS (SELECT 1 FROM sub_channel_purges WHERE channel_arn = ? AND sub_channel_id = ?)"
)
# A deleted channel's next members after one (at most a given number): the last one and how
# many. Memberships have no number to take a range of; finding the batch's end with ORDER BY
# ... OFFSET was planned by PostgreSQL, on statistics that had not seen the rows, as a scan
# and sort of the whole channel. This walks the (channel, member) key one entry at a time,
# each step a probe that stops at the first entry it finds.
WALK_MEMBERS = (
    "WITH RECURSIVE walk(member_arn, n) AS ("
    "SELECT (SELECT member_arn FROM memberships WHERE channel_arn = ? AND member_arn > ? "
    "ORDER BY member_arn LIMIT 1), 1 "
    "UNION ALL SELECT (SELECT m.member_arn FROM memberships m WHERE m.channel_arn = ? "
    "AND m.member_arn > w.member_arn ORDER BY m.member_arn LIMIT 1), w.n + 1 "
    "FROM walk w WHERE w.member_arn IS NOT NULL AND w.n < ?) "
    "SELECT MAX(member_arn), COUNT(member_arn) FROM walk"
)


class UpkeepSql(ChannelsSql):
    __slots__ = ()

    # --- leases -----------------------------------------------------------------------------

    def claim_lease(self, name: str, owner: str, now: float, seconds: float) -> bool:
        """Take or renew the lease ``name`` until ``now + seconds``; True if ``owner`` holds it.

        Granted when free, expired or already ``owner``'s: with a shared PostgreSQL store the
        row's lock makes two claimants' upserts take turns, so only one wins."""
        self._run(
            "INSERT INTO leases (name, owner, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
            "WHERE leases.owner = excluded.owner OR leases.expires < ?",
            (name, owner, now + seconds, now),
        )
        row = self._one("SELECT owner FROM leases WHERE name = ?", (name,))
        return row is not None and row[0] == owner

    def release_leases_of(self, owner: str) -> None:
        self._run("DELETE FROM leases WHERE owner = ?", (owner,))

    # --- what is due ------------------------------------------------------------------------

    def retained_app_instances(self) -> list[tuple[str, int]]:
        """App instances with a retention period: (ARN, RetentionDays)."""
        rows = self._all(
            "SELECT arn, retention_days FROM app_instances WHERE retention_days IS NOT NULL "
            "ORDER BY arn"
        )
        return [(r[0], int(r[1])) for r in rows]

    def messages_created_before(
        self, app_instance_arn: str, before: float, limit: int
    ) -> list[tuple[str, str]]:
        """Up to ``limit`` messages of the instance created before ``before`` (channel ARN,
        message id), channel by channel: each channel's are a range of ``messages_by_age``, so
        the read costs a probe per channel and a step per message found, whatever the
        instance holds that is younger."""
        rows = self._all(
            "SELECT m.channel_arn, m.message_id FROM channels c "
            "JOIN messages m ON m.channel_arn = c.arn AND m.created < ? "
            "WHERE c.app_instance_arn = ? LIMIT ?",
            (before, app_instance_arn, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def purge_messages(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete messages past retention, (channel ARN, message id) each. No event announces
        it, so the channels' details version moves: no prefetch serves them from its cache."""
        for channel_arn, message_id in keys:
            self._run(
                "DELETE FROM messages WHERE channel_arn = ? AND message_id = ?",
                (channel_arn, message_id),
            )
        for channel_arn in dict.fromkeys(c for c, _ in keys):
            self._details_changed(channel_arn)

    def purge_deleted_messages(self, limit: int) -> bool:
        """Delete the messages of one deleted channel numbered in its next ``limit`` numbers
        (at most ``limit`` messages), or, at its last number, all that are left; then, in the
        same and the following writes, its memberships ``limit`` members at a time, and with
        the last of them its purge. Then the messages of deleted sub-channels alike. False
        when no deleted channel or sub-channel has anything left."""
        row = self._one(
            "SELECT channel_arn, upto, done, members_after FROM channel_purges "
            "ORDER BY channel_arn LIMIT 1"
        )
        if row is None:
            return self._purge_deleted_sub_channel(limit)
        arn, upto, done, after = row[0], int(row[1]), int(row[2]), row[3] or ""
        if done < upto:
            if done + limit < upto:
                self._run(PURGE_MESSAGES, (arn, done, done + limit, arn))
                self._run(
                    "UPDATE channel_purges SET done = ? WHERE channel_arn = ?", (done + limit, arn)
                )
                return True
            self._run(PURGE_REST, (arn, arn))
            self._run("UPDATE channel_purges SET done = upto WHERE channel_arn = ?", (arn,))
        found = self._one(WALK_MEMBERS, (arn, after, arn, limit))
        last, count = (found[0], int(found[1])) if found is not None else (None, 0)
        if last is not None:
            self._run(PURGE_MEMBERS, (arn, after, last, arn))
        if count < limit:
            self._run("DELETE FROM channel_purges WHERE channel_arn = ?", (arn,))
        else:
            self._run(
                "UPDATE channel_purges SET members_after = ? WHERE channel_arn = ?", (last, arn)
            )
        return True

    def _purge_deleted_sub_channel(self, limit: int) -> bool:
        # A sub-channel's messages lie among its channel's other numbers (other sub-channels'
        # messages, every member's joins). Each write looks for the sub-channel's next message
        # in the next SPAN x ``limit`` numbers and deletes those in the ``limit`` numbers from
        # it, or, finding none, moves past the window: every read is a range of the numbers,
        # whichever index a planner takes for it. Nothing is added to a deleted sub-channel.
        row = self._one(
            "SELECT channel_arn, sub_channel_id, upto, done FROM sub_channel_purges "
            "ORDER BY channel_arn, sub_channel_id LIMIT 1"
        )
        if row is None:
            return False
        arn, sub, upto, done = row[0], row[1], int(row[2]), int(row[3])
        key = (arn, sub)
        window = min(done + SPAN * limit, upto)
        first = self._one(NEXT_IN_SUB_CHANNEL, (*key, done, window))
        end = window
        if first is not None:
            end = min(int(first[0]) + limit - 1, upto)
            self._run(PURGE_SUB_CHANNEL, (*key, done, end, *key))
        if end >= upto:
            self._run(
                "DELETE FROM sub_channel_purges WHERE channel_arn = ? AND sub_channel_id = ?", key
            )
        else:
            self._run(
                "UPDATE sub_channel_purges SET done = ? "
                "WHERE channel_arn = ? AND sub_channel_id = ?",
                (end, *key),
            )
        return True

    def channels_expiring_by(self, now: float, limit: int) -> list[Channel]:
        """Channels whose ExpirationSettings have run out at ``now`` (spec §11A.5:
        LAST_MESSAGE_TIMESTAMP counts from the last message, else from the creation)."""
        rows = self._all(
            f"SELECT {_CHANNEL_COLUMNS} FROM channels WHERE expiration_days IS NOT NULL AND "
            "(CASE WHEN expiration_criterion = 'LAST_MESSAGE_TIMESTAMP' "
            "THEN COALESCE(last_message, created) ELSE created END) "
            "+ expiration_days * ? <= ? ORDER BY arn LIMIT ?",
            (_DAY, now, limit),
        )
        return [_channel(r) for r in rows]

    def users_expiring_by(self, now: float, limit: int) -> list[AppInstanceUser]:
        rows = self._all(
            "SELECT arn, app_instance_arn, name, metadata, created, updated, expiration_days, "
            "expiration_criterion FROM users WHERE expiration_days IS NOT NULL AND "
            "created + expiration_days * ? <= ? ORDER BY arn LIMIT ?",
            (_DAY, now, limit),
        )
        return [AppInstanceUser(*r) for r in rows]
