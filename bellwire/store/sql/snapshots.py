"""What a messaging session reads when it connects: its channels and their sequence numbers."""

from __future__ import annotations

from bellwire.records.chime import Channel, Membership, route_key
from bellwire.store.sql.channels import ChannelsSql


class SnapshotsSql(ChannelsSql):
    __slots__ = ()

    # --- messaging sessions -----------------------------------------------------------------

    def subscriptions(self, member_arn: str) -> list[tuple[str, int]]:
        """(route key, sequence) of every channel (or, in elastic channels, every
        sub-channel, with the sub-channel's own number) the user belongs to, in one snapshot."""
        rows = self._all(
            "SELECT c.arn, c.seq, m.sub_channel_id, s.seq FROM memberships m "
            "JOIN channels c ON c.arn = m.channel_arn "
            "LEFT JOIN sub_channels s ON s.channel_arn = m.channel_arn "
            "AND s.sub_channel_id = m.sub_channel_id WHERE m.member_arn = ?",
            (member_arn,),
        )
        return [(route_key(r[0], r[2]), int(r[1] if r[3] is None else r[3])) for r in rows]

    def memberships_with_channels(self, member_arn: str) -> list[tuple[Membership, Channel]]:
        return self.memberships_of_user(member_arn, None, 1 << 30)
