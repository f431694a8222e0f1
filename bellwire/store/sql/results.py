"""Remembered results: the idempotency of ClientRequestToken retries."""

from __future__ import annotations

import json
from typing import Any

from bellwire.store.sql.common import SqlBase


class ResultsSql(SqlBase):
    __slots__ = ()

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

    def forget_results_before(self, moment: float, limit: int) -> bool:
        """Forget a batch of the remembered answers made before ``moment``, oldest first."""
        return self._forget_oldest("idempotency", "created", moment, limit)

    def forget_result(self, scope: str, token: str) -> None:
        self._run("DELETE FROM idempotency WHERE token = ? AND scope = ?", (token, scope))
