"""What a messaging session reads when it connects: its channels and their sequence numbers."""

from __future__ import annotations

from bellwire.records.chime import Channel, Membership, Position
from bellwire.store.sql.channels import ChannelsSql

# One statement for the user and every membership: no row means no such user; a row without a
# channel, a user in no channel. Only the columns a connect needs (a membership's and a channel's
# whole rows cost more to read and build than the rest of the snapshot). Flat outer joins: SQLite
# would materialize every membership for a parenthesized inner join. Ordered as the index by
# member is (a sort of one channel's sub-channels, which only a moderator has several of, would
# cost a temporary B-tree per connect).
_POSITIONS = (
    "SELECT m.channel_arn, NULLIF(m.sub_channel_id, ''), {read_marker}, c.last_message, c.seq, "
    "c.details_version, COALESCE(s.seq, c.seq) FROM users u "
    "LEFT JOIN memberships m ON m.member_arn = u.arn "
    "LEFT JOIN channels c ON c.arn = m.channel_arn "
    "LEFT JOIN sub_channels s ON s.channel_arn = m.channel_arn "
    "AND s.sub_channel_id = m.sub_channel_id "
    "WHERE u.arn = ? ORDER BY m.channel_arn"
)
# Without the read markers (a connect that prefetches nothing shows none), every membership
# column read is in the index by member: no table lookup per membership.
_POSITIONS_MARKED = _POSITIONS.format(read_marker="m.read_marker")
_POSITIONS_UNMARKED = _POSITIONS.format(read_marker="NULL")


class SnapshotsSql(ChannelsSql):
    __slots__ = ()

    # --- messaging sessions -----------------------------------------------------------------

    def positions(self, member_arn: str, *, read_markers: bool = True) -> list[Position] | None:
        """Every channel (or, in elastic channels, every sub-channel, with the sub-channel's own
        number) the user belongs to, in one snapshot; None when there is no such user. Without
        ``read_markers`` each position's ``read_marker`` is None."""
        rows = self._all(_POSITIONS_MARKED if read_markers else _POSITIONS_UNMARKED, (member_arn,))
        if not rows:
            return None
        return [Position._make(row) for row in rows if row[4] is not None]

    def memberships_with_channels(self, member_arn: str) -> list[tuple[Membership, Channel]]:
        return self.memberships_of_user(member_arn, None, 1 << 30)
