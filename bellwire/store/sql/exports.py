"""Streaming export: the configurations and the durable outbox (migration 5)."""

from __future__ import annotations

from collections.abc import Sequence

from bellwire.records.chime import OutboxRecord
from bellwire.store.sql.common import SqlBase

# A walk of the (resource_arn, id) index from one stream ARN to the next, each step stopping at
# the first entry it finds.
_SINKS = (
    "WITH RECURSIVE sinks(arn) AS ("
    "SELECT (SELECT resource_arn FROM export_outbox ORDER BY resource_arn LIMIT 1) "
    "UNION ALL SELECT (SELECT o.resource_arn FROM export_outbox o "
    "WHERE o.resource_arn > sinks.arn ORDER BY o.resource_arn LIMIT 1) "
    "FROM sinks WHERE sinks.arn IS NOT NULL) "
    "SELECT arn FROM sinks WHERE arn IS NOT NULL"
)


class ExportsSql(SqlBase):
    __slots__ = ()

    # --- configurations ---------------------------------------------------------------------

    def streaming_configurations(self, app_instance_arn: str) -> dict[str, str]:
        rows = self._all(
            "SELECT data_type, resource_arn FROM streaming_configurations "
            "WHERE app_instance_arn = ? ORDER BY data_type",
            (app_instance_arn,),
        )
        return {r[0]: r[1] for r in rows}

    def set_streaming_configurations(
        self, app_instance_arn: str, configurations: dict[str, str]
    ) -> None:
        """Replace the whole set (PUT replaces, spec §11A.1)."""
        self._run(
            "DELETE FROM streaming_configurations WHERE app_instance_arn = ?", (app_instance_arn,)
        )
        for data_type, resource_arn in sorted(configurations.items()):
            self._run(
                "INSERT INTO streaming_configurations (app_instance_arn, data_type, resource_arn) "
                "VALUES (?, ?, ?)",
                (app_instance_arn, data_type, resource_arn),
            )

    # --- the outbox -------------------------------------------------------------------------

    def append_outbox(self, rows: Sequence[tuple[str, str, str]], now: float) -> list[int]:
        """Append ``(resource_arn, channel_arn, record)`` rows; returns their ids.

        The ids come from one counter row, updated in this transaction: a concurrent writer
        (another node on a shared PostgreSQL) waits for this commit before it takes the next
        ones, so ids grow in commit order and per channel in event order."""
        row = self._one(
            "UPDATE export_counter SET value = value + ? WHERE name = 'outbox' RETURNING value",
            (len(rows),),
        )
        assert row is not None, "migration 5 seeds the counter"
        last = int(row[0])
        ids = list(range(last - len(rows) + 1, last + 1))
        for id_, (resource_arn, channel_arn, record) in zip(ids, rows, strict=True):
            self._run(
                "INSERT INTO export_outbox (id, resource_arn, channel_arn, record, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (id_, resource_arn, channel_arn, record, now),
            )
        return ids

    def outbox_sinks(self) -> list[str]:
        """The stream ARNs with records waiting, one probe of ``export_outbox_by_sink`` each:
        the relay asks at every pass (up to twenty a second while sends go on), and while a
        sink is down its records pile up (48 ms a pass for ``SELECT DISTINCT`` at a million
        records on SQLite)."""
        return [r[0] for r in self._all(_SINKS)]

    def outbox_batch(self, resource_arns: Sequence[str], limit: int) -> list[OutboxRecord]:
        """The oldest records of these streams (one sink), in id order."""
        marks = ", ".join("?" * len(resource_arns))
        rows = self._all(
            "SELECT id, resource_arn, channel_arn, record, created FROM export_outbox "
            f"WHERE resource_arn IN ({marks}) ORDER BY id LIMIT ?",
            (*resource_arns, limit),
        )
        return [OutboxRecord(*r) for r in rows]

    def acknowledge_outbox(self, resource_arns: Sequence[str], through_id: int) -> int:
        """Forget the delivered records of one sink, up to and including ``through_id``."""
        marks = ", ".join("?" * len(resource_arns))
        where = f"WHERE resource_arn IN ({marks}) AND id <= ?"
        row = self._one(f"SELECT COUNT(*) FROM export_outbox {where}", (*resource_arns, through_id))
        self._run(f"DELETE FROM export_outbox {where}", (*resource_arns, through_id))
        return int(row[0]) if row else 0

    def outbox_state(self) -> tuple[int, float | None]:
        """How many records wait, and when the oldest of them was written."""
        row = self._one("SELECT COUNT(*) FROM export_outbox")
        # The oldest record is the one with the smallest id (ids follow commit order).
        oldest = self._one("SELECT created FROM export_outbox ORDER BY id LIMIT 1")
        return (int(row[0]) if row else 0), (None if oldest is None else oldest[0])

    def trim_outbox(self, keep: int) -> int:
        """Drop the oldest records beyond ``keep`` (the configured bound); returns how many."""
        row = self._one("SELECT COUNT(*) FROM export_outbox")
        excess = (int(row[0]) if row else 0) - keep
        if excess <= 0:
            return 0
        cut = self._one("SELECT id FROM export_outbox ORDER BY id LIMIT 1 OFFSET ?", (excess - 1,))
        assert cut is not None
        self._run("DELETE FROM export_outbox WHERE id <= ?", (cut[0],))
        return excess
