"""App instances, their users and admins."""

from __future__ import annotations

from collections.abc import Iterable

from bellwire.records.chime import Admin, AppInstance, AppInstanceUser
from bellwire.store.sql.channels import ChannelsSql

# A user's memberships taken out of its sub-channels' counts. The sub-channels are found from
# its memberships: with a correlated EXISTS instead, SQLite scanned every sub-channel of the
# store (36 ms per deleted or expired user at 100,000 sub-channels; PostgreSQL planned both
# forms as this join).
LEAVE_SUB_CHANNELS = (
    "UPDATE sub_channels SET "
    "members = members - (SELECT COUNT(*) FROM memberships m WHERE m.member_arn = ? "
    "AND m.channel_arn = sub_channels.channel_arn "
    "AND m.sub_channel_id = sub_channels.sub_channel_id AND m.moderator = 0), "
    "moderators = moderators - (SELECT COUNT(*) FROM memberships m WHERE m.member_arn = ? "
    "AND m.channel_arn = sub_channels.channel_arn "
    "AND m.sub_channel_id = sub_channels.sub_channel_id AND m.moderator = 1) "
    "WHERE (channel_arn, sub_channel_id) IN "
    "(SELECT channel_arn, sub_channel_id FROM memberships WHERE member_arn = ?)"
)


class IdentitySql(ChannelsSql):
    __slots__ = ()

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
        """Delete the instance and everything in it; returns the ARNs of its users (bots'
        identities included), whose sessions must close."""
        # By set, as its users below: seven statements per channel took PostgreSQL 1.1 s per
        # 5,000 channels.
        self._delete_channels("SELECT arn FROM channels WHERE app_instance_arn = ?", (arn,))
        # A user joins, moderates and is banned only in channels of its own instance: their
        # moderators and bans went with them above, their memberships go with their purges.
        # So the users (bots' identities included) go by set, not one by one through
        # delete_user (nine statements each: 3.2 s of the writer for 100,000 users).
        for table, column in (("tags", "resource_arn"), ("user_endpoints", "user_arn")):
            self._run(
                f"DELETE FROM {table} WHERE {column} IN "
                "(SELECT arn FROM users WHERE app_instance_arn = ?)",
                (arn,),
            )
        users = [
            r[0]
            for r in self._all("DELETE FROM users WHERE app_instance_arn = ? RETURNING arn", (arn,))
        ]
        self._run(
            "DELETE FROM tags WHERE resource_arn IN "
            "(SELECT arn FROM channel_flows WHERE app_instance_arn = ?)",
            (arn,),
        )
        for table in (
            "channel_flows",  # none is associated any more: their channels are gone
            "admins",
            "app_instance_bots",
            "streaming_configurations",
        ):
            self._run(f"DELETE FROM {table} WHERE app_instance_arn = ?", (arn,))
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))
        self._run("DELETE FROM app_instances WHERE arn = ?", (arn,))
        return users

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
            # A bot's identity is a users row too; it is no AppInstanceUser.
            self._USER + " WHERE app_instance_arn = ? AND arn > ? "
            "AND arn NOT IN (SELECT arn FROM app_instance_bots) ORDER BY arn LIMIT ?",
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
        # Sub-channels of elastic channels keep their counts: take the user's memberships out.
        self._run(LEAVE_SUB_CHANNELS, (arn, arn, arn))
        self._run("DELETE FROM memberships WHERE member_arn = ?", (arn,))
        self._run("DELETE FROM moderators WHERE moderator_arn = ?", (arn,))
        self._run("DELETE FROM bans WHERE member_arn = ?", (arn,))
        self._run(
            "DELETE FROM admins WHERE app_instance_arn = "
            "(SELECT app_instance_arn FROM users WHERE arn = ?) AND admin_arn = ?",
            (arn, arn),
        )
        self._run("DELETE FROM tags WHERE resource_arn = ?", (arn,))
        self._run("DELETE FROM user_endpoints WHERE user_arn = ?", (arn,))
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
