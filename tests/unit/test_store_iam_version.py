"""The IAM version (migration 5) on both engines: one per IAM write, in its transaction, and
read with the IAM snapshot so that a node knows which changes a snapshot already holds."""

from __future__ import annotations

import pytest
from store_engines import Engine

from bellwire.store.base import IamTx


async def test_each_iam_write_takes_the_next_version_and_a_rollback_gives_it_back(
    engine: Engine,
) -> None:
    store = engine.open()
    try:
        assert await store.read(lambda tx: tx.iam_version()) == 0
        assert await store.write(lambda tx: tx.next_iam_version()) == 1
        assert await store.write(lambda tx: tx.next_iam_version()) == 2

        def fails(tx: IamTx) -> None:
            tx.next_iam_version()
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await store.write(fails)
        assert await store.read(lambda tx: tx.iam_version()) == 2
        assert (await store.read(lambda tx: tx.iam_snapshot())).version == 2
    finally:
        await store.close()
