"""Console sign-ins (migration 17), by a hash of their cookie."""

from __future__ import annotations

from bellwire.records.iam import ConsoleSession
from bellwire.store.sql.common import SqlBase


class ConsoleSql(SqlBase):
    __slots__ = ()

    def open_console_session(self, token_key: str, s: ConsoleSession) -> None:
        self._run(
            "INSERT INTO console_sessions (token_key, access_key_id, csrf, expires) "
            "VALUES (?, ?, ?, ?)",
            (token_key, s.access_key_id, s.csrf, s.expires),
        )

    def console_session(self, token_key: str) -> ConsoleSession | None:
        row = self._one(
            "SELECT access_key_id, csrf, expires FROM console_sessions WHERE token_key = ?",
            (token_key,),
        )
        return None if row is None else ConsoleSession(row[0], row[1], row[2])

    def close_console_session(self, token_key: str) -> None:
        self._run("DELETE FROM console_sessions WHERE token_key = ?", (token_key,))

    def forget_console_sessions_before(self, moment: float, limit: int) -> bool:
        """Forget a batch of the sign-ins that ended before ``moment``, oldest first."""
        return self._forget_oldest("console_sessions", "expires", moment, limit)
