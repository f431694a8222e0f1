"""The store's interface is the whole of what the engine offers, split by aggregate.

A second engine implements the protocols of ``store/base.py``; so every public query of the
SQL transaction must be declared in exactly one aggregate protocol (nothing reachable only by
knowing the SQLite class), and every declared method must exist with the same signature.
"""

from __future__ import annotations

import inspect

import pytest

from bellwire.store import base
from bellwire.store.postgres import _PgTx
from bellwire.store.sql import SqlTx

AGGREGATES = [
    base.Results,
    base.Identity,
    base.Tags,
    base.Channels,
    base.Messages,
    base.Flows,
    base.Bots,
    base.SubChannels,
    base.Snapshots,
    base.Exports,
    base.Upkeep,
    base.Iam,
    base.ConsoleSessions,
]


def declared(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_transaction_protocols_join_every_aggregate() -> None:
    assert set(base.Tx.__mro__) >= set(AGGREGATES) - {base.Iam, base.ConsoleSessions}
    # A Chime operation does not see IAM's tables, nor the console's sign-ins.
    assert base.Iam not in base.Tx.__mro__ and base.ConsoleSessions not in base.Tx.__mro__
    assert set(base.IamTx.__mro__) >= set(AGGREGATES)


def test_each_public_query_is_declared_in_exactly_one_aggregate() -> None:
    offered = {name for name in dir(SqlTx) if not name.startswith("_")}
    owners = {name: [p.__name__ for p in AGGREGATES if name in declared(p)] for name in offered}
    assert {name: found for name, found in owners.items() if len(found) != 1} == {}
    assert set().union(*(declared(p) for p in AGGREGATES)) == offered


@pytest.mark.parametrize("engine_tx", [SqlTx, _PgTx], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("protocol", AGGREGATES, ids=lambda p: p.__name__)
def test_the_sql_engine_matches_each_signature(protocol: type, engine_tx: type) -> None:
    """Both engines hand units the shared SQL (PostgreSQL's adds lock bookkeeping to it)."""
    for name in declared(protocol):
        promised = inspect.signature(getattr(protocol, name))
        given = inspect.signature(getattr(engine_tx, name))
        assert given == promised, f"{protocol.__name__}.{name}: {given} != {promised}"
