"""AppInstanceBots and users' push endpoints."""

from __future__ import annotations

from typing import Any

from bellwire.records.bots import AppInstanceBot, UserEndpoint
from bellwire.store.sql.common import Row, SqlBase, json_column, unjson_column

_BOT_COLUMNS = "arn, app_instance_arn, name, metadata, configuration, created, updated"
_ENDPOINT_COLUMNS = (
    "user_arn, endpoint_id, name, type, resource_arn, attributes, allow_messages, created, updated"
)


def _bot(row: Row) -> AppInstanceBot:
    arn, app, name, metadata, configuration, created, updated = row
    return AppInstanceBot(arn, app, name, metadata, unjson_column(configuration), created, updated)


def _endpoint(row: Row) -> UserEndpoint:
    user, endpoint_id, name, type_, resource, attributes, allow, created, updated = row
    return UserEndpoint(
        user, endpoint_id, name, type_, resource, unjson_column(attributes), allow, created, updated
    )


class BotsSql(SqlBase):
    __slots__ = ()

    # --- bots ---------------------------------------------------------------------------------

    def insert_bot(self, b: AppInstanceBot) -> None:
        self._run(
            f"INSERT INTO app_instance_bots ({_BOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                b.arn,
                b.app_instance_arn,
                b.name,
                b.metadata,
                json_column(b.configuration),
                b.created,
                b.updated,
            ),
        )

    def bot(self, arn: str) -> AppInstanceBot | None:
        row = self._one(f"SELECT {_BOT_COLUMNS} FROM app_instance_bots WHERE arn = ?", (arn,))
        return None if row is None else _bot(row)

    def update_bot(
        self,
        arn: str,
        name: str,
        metadata: str | None,
        configuration: Any,
        now: float,
    ) -> None:
        self._run(
            "UPDATE app_instance_bots SET name = ?, metadata = ?, configuration = ?, updated = ? "
            "WHERE arn = ?",
            (name, metadata, json_column(configuration), now, arn),
        )

    def list_bots(
        self, app_instance_arn: str, after: str | None, limit: int
    ) -> list[AppInstanceBot]:
        rows = self._all(
            f"SELECT {_BOT_COLUMNS} FROM app_instance_bots "
            "WHERE app_instance_arn = ? AND arn > ? ORDER BY arn LIMIT ?",
            (app_instance_arn, after or "", limit),
        )
        return [_bot(r) for r in rows]

    def delete_bot(self, arn: str) -> None:
        self._run("DELETE FROM app_instance_bots WHERE arn = ?", (arn,))

    def bots_in_channel(self, app_instance_arn: str, channel_arn: str) -> list[AppInstanceBot]:
        # Driven by the instance's bots (few), each a primary-key probe of the memberships:
        # a send in a channel of thousands of members does not scan them.
        rows = self._all(
            f"SELECT {', '.join('b.' + c for c in _BOT_COLUMNS.split(', '))} "
            "FROM app_instance_bots b JOIN memberships m "
            "ON m.channel_arn = ? AND m.member_arn = b.arn "
            "WHERE b.app_instance_arn = ? ORDER BY b.arn",
            (channel_arn, app_instance_arn),
        )
        return [_bot(r) for r in rows]

    def count_shown_members(self, channel_arn: str) -> int:
        """Members that are not HIDDEN (InvokedBy AUTO counts them)."""
        row = self._one(
            "SELECT COUNT(*) FROM memberships WHERE channel_arn = ? AND type <> 'HIDDEN'",
            (channel_arn,),
        )
        return int(row[0]) if row else 0

    # --- push endpoints -----------------------------------------------------------------------

    def insert_endpoint(self, e: UserEndpoint) -> None:
        self._run(
            f"INSERT INTO user_endpoints ({_ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.user_arn,
                e.endpoint_id,
                e.name,
                e.type,
                e.resource_arn,
                json_column(e.attributes),
                e.allow_messages,
                e.created,
                e.updated,
            ),
        )

    def endpoint(self, user_arn: str, endpoint_id: str) -> UserEndpoint | None:
        row = self._one(
            f"SELECT {_ENDPOINT_COLUMNS} FROM user_endpoints WHERE user_arn = ? AND endpoint_id = ?",
            (user_arn, endpoint_id),
        )
        return None if row is None else _endpoint(row)

    def update_endpoint(
        self, user_arn: str, endpoint_id: str, name: str | None, allow_messages: str, now: float
    ) -> None:
        self._run(
            "UPDATE user_endpoints SET name = ?, allow_messages = ?, updated = ? "
            "WHERE user_arn = ? AND endpoint_id = ?",
            (name, allow_messages, now, user_arn, endpoint_id),
        )

    def delete_endpoint(self, user_arn: str, endpoint_id: str) -> None:
        self._run(
            "DELETE FROM user_endpoints WHERE user_arn = ? AND endpoint_id = ?",
            (user_arn, endpoint_id),
        )

    def list_endpoints(self, user_arn: str, after: str | None, limit: int) -> list[UserEndpoint]:
        rows = self._all(
            f"SELECT {_ENDPOINT_COLUMNS} FROM user_endpoints "
            "WHERE user_arn = ? AND endpoint_id > ? ORDER BY endpoint_id LIMIT ?",
            (user_arn, after or "", limit),
        )
        return [_endpoint(r) for r in rows]

    def push_targets(self, channel_arn: str) -> list[tuple[str, Any, UserEndpoint]]:
        """(member, its membership preferences, endpoint) for every member endpoint that
        allows messages."""
        columns = ", ".join("e." + c for c in _ENDPOINT_COLUMNS.split(", "))
        rows = self._all(
            f"SELECT m.member_arn, m.preferences, {columns} "
            "FROM memberships m JOIN user_endpoints e ON e.user_arn = m.member_arn "
            "WHERE m.channel_arn = ? AND e.allow_messages = 'ALL' "
            "ORDER BY m.member_arn, e.endpoint_id",
            (channel_arn,),
        )
        return [(r[0], unjson_column(r[1]), _endpoint(r[2:])) for r in rows]
