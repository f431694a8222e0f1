"""Portable SQL, one module per aggregate of ``store/base.py``; an engine binds them to a cursor.

The SQL uses ``?`` placeholders and nothing engine-specific, so an engine whose driver differs
only in its placeholders translates them in its cursor; one whose SQL must differ replaces the
aggregate's class, not the whole transaction.
"""

from __future__ import annotations

from bellwire.records.chime import Message
from bellwire.store.sql.bots import BotsSql
from bellwire.store.sql.common import Cursor, Row
from bellwire.store.sql.console import ConsoleSql
from bellwire.store.sql.exports import ExportsSql
from bellwire.store.sql.flows import FlowsSql
from bellwire.store.sql.iam import IamSql
from bellwire.store.sql.identity import IdentitySql
from bellwire.store.sql.messages import INSERT_MESSAGE, MessagesSql, message_params
from bellwire.store.sql.results import ResultsSql
from bellwire.store.sql.snapshots import SnapshotsSql
from bellwire.store.sql.sub_channels import SubChannelsSql
from bellwire.store.sql.tags import TagsSql
from bellwire.store.sql.upkeep import UpkeepSql

__all__ = ["Cursor", "Row", "SqlTx"]


class SqlTx(
    ResultsSql,
    IdentitySql,
    TagsSql,
    MessagesSql,
    SnapshotsSql,
    SubChannelsSql,
    FlowsSql,
    BotsSql,
    ExportsSql,
    UpkeepSql,
    IamSql,
    ConsoleSql,
):
    """Every aggregate's queries and changes inside one transaction (implements ``IamTx``)."""

    __slots__ = ()

    def insert_message_at_next_seq(self, m: Message, *, last_message: float | None) -> int:
        seq = self.next_seq(m.channel_arn, last_message=last_message)
        params = message_params(m)
        self._run(INSERT_MESSAGE, (*params[:2], seq, *params[3:]))
        return seq
