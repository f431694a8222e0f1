"""Every store engine's promises: group commit, a failing unit undone alone, order, durability.

Each test runs on SQLite and on PostgreSQL (the ``engine`` fixture), with the same assertions.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from store_engines import Engine, plain_message, stored_messages

from bellwire.records.chime import AppInstance
from bellwire.store.base import Tx
from bellwire.store.migrations import MIGRATIONS, SchemaTooNew, statements


def app(i: int) -> AppInstance:
    return AppInstance(f"arn:app/{i:04d}", f"app{i}", None, 1.0, 1.0)


async def test_concurrent_writes_are_grouped_and_all_committed(engine: Engine) -> None:
    committed: list[int] = []
    store = engine.open(max_batch=64)
    try:
        results = await asyncio.gather(
            *(
                store.write(
                    lambda tx, i=i: (tx.insert_app_instance(app(i)), i)[1], committed.append
                )
                for i in range(200)
            )
        )
        assert results == list(range(200))
        # The consumer saw every unit once. (Units of unrelated channels may commit in any
        # order on an engine with several writers; one channel's order is tested below.)
        assert sorted(committed) == list(range(200))
        listed = await store.read(lambda tx: tx.list_app_instances(None, 1000))
        assert len(listed) == 200
    finally:
        await store.close()
    # A fresh connection (another process would be the same) sees everything.
    assert engine.sql("SELECT COUNT(*) FROM app_instances", ()) == [(200,)]


async def test_the_consumer_gets_committed_values_only_before_the_caller_resumes(
    engine: Engine,
) -> None:
    store = engine.open()
    seen: list[str] = []

    def fails(tx: Tx) -> str:
        tx.insert_app_instance(app(1))
        raise ValueError("rule violated after a write")

    try:
        ok = await store.write(lambda tx: (tx.insert_app_instance(app(0)), "ok")[1], seen.append)
        assert seen == ["ok"] == [ok]  # already consumed when write returned
        with pytest.raises(ValueError):
            await store.write(fails, seen.append)
        assert seen == ["ok"]  # a unit that was undone is never consumed
    finally:
        await store.close()


async def test_a_write_whose_caller_gave_up_before_it_began_is_never_applied(
    engine: Engine,
) -> None:
    """A REST request past its deadline is answered 503 and its task cancelled: the unit it
    left queued must not land when the writer gets to it."""
    store = engine.open()
    gate = threading.Event()
    try:
        first = asyncio.ensure_future(store.write(lambda tx: gate.wait(5), key="k"))
        await asyncio.sleep(0.1)  # the writer holds the first unit
        given_up = asyncio.ensure_future(
            store.write(lambda tx: tx.insert_app_instance(app(1)), key="k")
        )
        kept = asyncio.ensure_future(
            store.write(lambda tx: tx.insert_app_instance(app(2)), key="k")
        )
        await asyncio.sleep(0.1)
        given_up.cancel()
        gate.set()
        await first
        await kept
        assert given_up.cancelled()
        listed = await store.read(lambda tx: tx.list_app_instances(None, 10))
        assert [a.arn for a in listed] == [app(2).arn]
    finally:
        gate.set()
        await store.close()


async def test_a_failing_unit_is_undone_alone(engine: Engine) -> None:
    store = engine.open()

    def half_then_fail(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        raise ValueError("rule violated after a write")

    try:
        outcomes = await asyncio.gather(
            store.write(lambda tx: tx.insert_app_instance(app(0))),
            store.write(half_then_fail),
            store.write(lambda tx: tx.insert_app_instance(app(2))),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], ValueError) and outcomes[0] is None and outcomes[2] is None
        arns = [a.arn for a in await store.read(lambda tx: tx.list_app_instances(None, 10))]
        assert arns == [app(0).arn, app(2).arn]
    finally:
        await store.close()


async def test_a_unit_that_fails_before_it_writes_leaves_its_batch_to_run_once(
    engine: Engine,
) -> None:
    """Batches run without a savepoint per unit: a unit refused after reading is dropped
    alone, and the others run once; one refused after writing sends the batch round again
    (with savepoints), and still only its own write is undone."""
    store = engine.open()
    gate = threading.Event()
    runs: dict[str, int] = {}

    def wait(tx: Tx) -> None:
        gate.wait(5)

    def counted(name: str, fn: Any) -> Any:
        def unit(tx: Tx) -> Any:
            runs[name] = runs.get(name, 0) + 1
            return fn(tx)

        return unit

    def refuse_after_reading(tx: Tx) -> None:
        assert tx.app_instance(app(0).arn) is None
        raise ValueError("refused before writing")

    def refuse_after_writing(tx: Tx) -> None:
        tx.insert_app_instance(app(4))
        raise ValueError("refused after writing")

    async def one_batch(units: dict[str, Any]) -> list[Any]:
        first = asyncio.ensure_future(store.write(wait, key="k"))
        await asyncio.sleep(0.1)
        later = [
            asyncio.ensure_future(store.write(counted(name, fn), key="k"))
            for name, fn in units.items()
        ]
        await asyncio.sleep(0.1)
        gate.set()
        await first
        gate.clear()
        return await asyncio.gather(*later, return_exceptions=True)

    try:
        outcomes = await one_batch(
            {
                "a": lambda tx: tx.insert_app_instance(app(1)),
                "refused": refuse_after_reading,
                "b": lambda tx: tx.insert_app_instance(app(2)),
            }
        )
        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], ValueError)
        assert runs == {"a": 1, "refused": 1, "b": 1}
        runs.clear()
        outcomes = await one_batch(
            {"c": lambda tx: tx.insert_app_instance(app(3)), "undone": refuse_after_writing}
        )
        assert outcomes[0] is None and isinstance(outcomes[1], ValueError)
        assert runs["c"] >= 1  # run again with savepoints, committed once
        arns = [a.arn for a in await store.read(lambda tx: tx.list_app_instances(None, 10))]
        assert arns == [app(1).arn, app(2).arn, app(3).arn]
    finally:
        gate.set()
        await store.close()


async def test_a_write_that_fails_as_the_last_statement_of_a_unit_fails_that_unit(
    engine: Engine,
) -> None:
    """A statement whose answer the unit never reads (PostgreSQL queues it in a pipeline) still
    fails its own unit, not the next one, and the units around it commit."""
    store = engine.open()
    # The writer is held on a first unit so that the next ones share one batch (one key: one
    # writer of several).
    gate = threading.Event()

    def wait(tx: Tx) -> None:
        gate.wait(5)

    def bad_last_write(tx: Tx) -> str:
        tx.insert_app_instance(app(1))
        # NOT NULL broken (no conflict to retry), and nothing read after it.
        tx.insert_app_instance(AppInstance("arn:app/bad", None, None, 1.0, 1.0))  # type: ignore[arg-type]
        return "bad"

    try:
        first = asyncio.ensure_future(store.write(wait, key="k"))
        await asyncio.sleep(0.1)
        later = asyncio.gather(
            store.write(lambda tx: (tx.insert_app_instance(app(0)), "a")[1], key="k"),
            store.write(bad_last_write, key="k"),
            store.write(lambda tx: (tx.app_instance(app(0).arn), "c")[1], key="k"),
            store.write(lambda tx: (tx.insert_app_instance(app(2)), "d")[1], key="k"),
            return_exceptions=True,
        )
        await asyncio.sleep(0.1)
        gate.set()
        await first
        outcomes = await later
        assert outcomes[0] == "a" and outcomes[2] == "c" and outcomes[3] == "d", outcomes
        assert isinstance(outcomes[1], Exception) and not isinstance(outcomes[1], AssertionError)
        arns = [a.arn for a in await store.read(lambda tx: tx.list_app_instances(None, 10))]
        assert arns == [app(0).arn, app(2).arn]
    finally:
        gate.set()
        await store.close()


async def test_reads_see_a_consistent_snapshot_and_cannot_write(engine: Engine) -> None:
    store = engine.open()
    try:
        with pytest.raises(engine.read_only_error):
            await store.read(lambda tx: tx.insert_app_instance(app(9)))
        assert await store.ping()
    finally:
        await store.close()


async def test_reads_asked_together_fail_and_are_cancelled_alone(engine: Engine) -> None:
    """Reads of one loop turn share a trip to the reader threads (SQLite): each still gets its
    own answer, its own failure, and a cancelled one leaves the others alone."""
    store = engine.open()
    try:
        await store.write(lambda tx: tx.insert_app_instance(app(1)))

        def broken(tx: Tx) -> None:
            raise LookupError("this read's own failure")

        def names(tx: Tx) -> list[str]:
            return [a.arn for a in tx.list_app_instances(None, 10)]

        def writes(tx: Tx) -> None:  # refused by the database itself, mid-transaction
            tx.insert_app_instance(app(9))

        functions = (names, broken, names, writes, names)
        reads = [asyncio.ensure_future(store.read(f)) for f in functions]
        reads[2].cancel()
        done = await asyncio.gather(*reads, return_exceptions=True)
        assert done[0] == [app(1).arn] and done[4] == [app(1).arn], done
        assert isinstance(done[1], LookupError), done
        assert isinstance(done[2], asyncio.CancelledError), done
        assert isinstance(done[3], engine.read_only_error), done
        # The reader is not left inside a transaction by the failure.
        assert await store.read(names) == [app(1).arn]
    finally:
        await store.close()


async def test_closed_store_refuses_work(engine: Engine) -> None:
    from bellwire.store.base import StoreClosed

    store = engine.open()
    await store.close()
    with pytest.raises(StoreClosed):
        await store.write(lambda tx: None)


def test_migrations_are_idempotent_and_versioned(engine: Engine) -> None:
    assert engine.migrate() == len(MIGRATIONS)
    assert engine.migrate() == len(MIGRATIONS)
    count = engine.sql("SELECT COUNT(*) FROM schema_version", ())
    assert count == [(len(MIGRATIONS),)]
    engine.sql("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS) + 1,))
    with pytest.raises(SchemaTooNew, match="newer than this bellwire"):
        engine.migrate()
    # A node refuses to open it too (the server's start fails with that message).
    with pytest.raises(SchemaTooNew, match=f"version {len(MIGRATIONS) + 1}, newer"):
        engine.open()


async def test_channel_sequence_is_per_channel_and_gapless(engine: Engine) -> None:
    from bellwire.records.chime import Channel

    store = engine.open()

    def channel(arn: str) -> Channel:
        return Channel(arn, "arn:app", "n", "RESTRICTED", "PRIVATE", None, "u", 1.0, 1.0, None, 0)

    try:
        await store.write(
            lambda tx: (tx.insert_channel(channel("a")), tx.insert_channel(channel("b")))
        )
        seqs = await asyncio.gather(
            *(store.write(lambda tx, c=c: tx.next_seq(c)) for c in "abababa")
        )
        assert sorted(s for s, c in zip(seqs, "abababa", strict=True) if c == "a") == [1, 2, 3, 4]
        assert sorted(s for s, c in zip(seqs, "abababa", strict=True) if c == "b") == [1, 2, 3]
    finally:
        await store.close()


async def test_channel_positions_name_each_existing_channels_sequence(engine: Engine) -> None:
    from bellwire.records.chime import Channel

    store = engine.open()
    arns = [f"arn:c/{i:04d}" for i in range(1200)]  # more than one chunk of parameters

    def create(tx: Tx) -> None:
        for i, arn in enumerate(arns):
            tx.insert_channel(
                Channel(arn, "arn:app", "n", "RESTRICTED", "PRIVATE", None, "u", 1.0, 1.0, None, i)
            )

    try:
        await store.write(create)
        await store.write(lambda tx: (tx.next_seq(arns[7]), tx.next_seq(arns[7])))
        asked = [*arns, "arn:c/deleted"]
        positions = await store.read(lambda tx: tx.channel_positions(asked))
        assert positions == {arn: i + (2 if i == 7 else 0) for i, arn in enumerate(arns)}
        assert await store.read(lambda tx: tx.channel_positions([])) == {}
    finally:
        await store.close()


async def test_a_deleted_channels_messages_are_purged_a_batch_at_a_time(engine: Engine) -> None:
    from bellwire.records.chime import Channel

    ai = "arn:app/0001"
    store = engine.open()

    def channel(name: str) -> Channel:
        arn = f"{ai}/channel/{name}"
        return Channel(arn, ai, name, "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0)

    doomed, kept, again = channel("doomed"), channel("kept"), channel("again")

    def fill(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        for c, count in ((doomed, 25), (kept, 3), (again, 4)):
            tx.insert_channel(c)
            for i in range(count):
                m = plain_message(c.arn, f"m{i:03d}")
                tx.insert_message_at_next_seq(m, last_message=None)

    def stored(tx: Tx, arn: str) -> int:
        return len(stored_messages(tx, arn))

    try:
        await store.write(fill)
        await store.write(lambda tx: (tx.delete_channel(doomed.arn), tx.delete_channel(again.arn)))
        # The deletion left the messages; a channel created again under its name starts empty.
        assert await store.read(lambda tx: stored(tx, doomed.arn)) == 25
        await store.write(lambda tx: tx.insert_channel(again))
        assert await store.read(lambda tx: stored(tx, again.arn)) == 0

        left = []
        while await store.write(lambda tx: tx.purge_deleted_messages(10)):
            left.append(await store.read(lambda tx: stored(tx, doomed.arn)))
        assert left == [15, 5, 0]
        assert await store.write(lambda tx: tx.purge_deleted_messages(10)) is False
        assert await store.read(lambda tx: stored(tx, kept.arn)) == 3
        # The channel created again is not purged with the old one's messages.
        await store.write(
            lambda tx: tx.insert_message_at_next_seq(
                plain_message(again.arn, "new"), last_message=None
            )
        )
        assert await store.write(lambda tx: tx.purge_deleted_messages(10)) is False
        assert await store.read(lambda tx: stored(tx, again.arn)) == 1
    finally:
        await store.close()


async def test_a_deleted_channels_memberships_go_after_its_messages(engine: Engine) -> None:
    """The deletion leaves the memberships too: no read by member finds them (each joins the
    channel), and the purge deletes them ``limit`` members at a time once the messages are
    gone, a member's several memberships (an elastic moderator's) together. A channel created
    again under the name starts without them."""
    from bellwire.records.chime import AppInstanceUser, Channel, Membership

    ai = "arn:app/0001"
    arn = f"{ai}/channel/e"
    mod = f"{ai}/user/m"  # before the members in key order: in the first batch
    members = [f"{ai}/user/u{i:03d}" for i in range(24)]
    store = engine.open()

    def membership(member: str, sub: str, moderator: bool = False) -> Membership:
        return Membership(arn, member, "DEFAULT", "x", 1.0, 1.0, None, None, sub, moderator)

    def fill(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        tx.insert_channel(Channel(arn, ai, "e", "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0))
        for user in (mod, members[0]):
            tx.insert_user(AppInstanceUser(user, ai, "n", None, 1.0, 1.0))
        for sub in ("s1", "s2"):
            tx.insert_membership(membership(mod, sub, moderator=True))
        for i, member in enumerate(members):
            tx.insert_membership(membership(member, ("s1", "s2")[i % 2]))
        for i in range(3):
            tx.insert_message_at_next_seq(plain_message(arn, f"m{i}"), last_message=None)

    def stored(tx: Tx) -> int:
        return len(tx.member_summaries(arn, "DEFAULT", 1000))

    def by_member(tx: Tx) -> tuple[Any, ...]:
        return (tx.positions(mod), tx.memberships_of_user(members[0], None, 100))

    try:
        await store.write(fill)
        assert await store.read(stored) == 26
        await store.write(lambda tx: tx.delete_channel(arn))
        assert await store.read(stored) == 26
        assert await store.read(by_member) == ([], [])
        left = []
        while await store.write(lambda tx: tx.purge_deleted_messages(10)):
            left.append(await store.read(stored))
        # The messages, and the moderator's two memberships with nine members' in the same
        # write; then ten members; then the last five with the purge.
        assert left == [15, 5, 0]
        assert await store.read(lambda tx: stored_messages(tx, arn)) == []

        # Deleted again with a member and created again before the purge: it starts empty.
        channel = Channel(arn, ai, "e", "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0)
        await store.write(
            lambda tx: (tx.insert_channel(channel), tx.insert_membership(membership(mod, "s1")))
        )
        await store.write(lambda tx: tx.delete_channel(arn))
        await store.write(lambda tx: tx.insert_channel(channel))
        assert await store.read(stored) == 0
    finally:
        await store.close()


async def test_a_purge_write_spares_what_a_channel_created_again_meanwhile_holds(
    engine: Engine,
) -> None:
    """On a server engine a channel created again under its ChannelId (or a sub-channel an
    import brings back) may commit between a purge write's read of its record and its deletes:
    each delete checks, in its own snapshot, that the purge is still recorded."""
    import dataclasses

    from bellwire.records.chime import Channel, Membership, SubChannel
    from bellwire.store.sql.upkeep import (
        PURGE_MEMBERS,
        PURGE_MESSAGES,
        PURGE_REST,
        PURGE_SUB_CHANNEL,
    )

    ai = "arn:app/0001"
    arn = f"{ai}/channel/again"
    channel = Channel(arn, ai, "a", "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0)
    sub = SubChannel(arn, "s1", 0, 1, 0, 1.0)
    store = engine.open()

    def fill(tx: Tx, tag: str) -> None:
        tx.insert_channel(channel)
        tx.insert_sub_channel(sub)
        tx.insert_membership(Membership(arn, f"{ai}/user/{tag}", "DEFAULT", "x", 1.0, 1.0))
        for m in (plain_message(arn, tag), plain_message(arn, f"{tag}-s1")):
            if m.message_id.endswith("-s1"):
                m = dataclasses.replace(m, sub_channel_id="s1")
            tx.insert_message_at_next_seq(m, last_message=None)

    def held(tx: Tx) -> tuple[int, int, int]:
        return (
            len(stored_messages(tx, arn)),
            len(stored_messages(tx, arn, "s1")),
            len(tx.member_summaries(arn, "DEFAULT", 10)),
        )

    try:
        await store.write(lambda tx: (tx.insert_app_instance(app(1)), fill(tx, "old")))
        await store.write(lambda tx: (tx.delete_sub_channel(arn, "s1"), tx.delete_channel(arn)))
        await store.write(lambda tx: fill(tx, "new"))  # created again: the purge's records go
        assert await store.read(held) == (2, 1, 1)
        # The deletes a purge write that read the records before makes next.
        for statement, params in (
            (PURGE_MESSAGES, (arn, 0, 100, arn)),
            (PURGE_REST, (arn, arn)),
            (PURGE_MEMBERS, (arn, "", "~", arn)),
            (PURGE_SUB_CHANNEL, (arn, "s1", 0, 100, arn, "s1")),
        ):
            engine.sql(statement, params)
        assert await store.read(held) == (2, 1, 1)
    finally:
        await store.close()


async def test_a_deleted_sub_channels_messages_are_unreachable_then_purged(
    engine: Engine,
) -> None:
    """A SCALE_IN's deletion leaves the sub-channel's messages to the purge: from its commit no
    read that does not name the sub-channel finds them, and each purge write deletes those in
    ``limit`` of the channel's numbers from the next one, or skips numbers where it has none.
    A SubChannelId brought back (an import) starts empty."""
    import dataclasses

    from bellwire.records.chime import Channel, SubChannel

    ai = "arn:app/0001"
    arn = f"{ai}/channel/elastic"
    store = engine.open()

    def fill(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        tx.insert_channel(Channel(arn, ai, "e", "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0))
        for ordinal, sub in enumerate(("doomed", "kept")):
            tx.insert_sub_channel(SubChannel(arn, sub, ordinal, 1, 0, 1.0))
        # Numbers 1-50 alternately in each, 51-950 in "kept", 951-953 in "doomed".
        for i in range(953):
            doomed = i % 2 == 0 if i < 50 else i >= 950
            m = plain_message(arn, f"m{i:03d}")
            m = dataclasses.replace(m, sub_channel_id="doomed" if doomed else "kept")
            tx.insert_message_at_next_seq(m, last_message=None)

    def reachable(tx: Tx) -> tuple[int, bool, bool]:
        return (
            len(stored_messages(tx, arn)),  # a listing of the whole channel (export, console)
            tx.message(arn, "m000") is not None,
            tx.message_exists(arn, "m000"),
        )

    def left(tx: Tx, sub: str) -> int:
        return len(stored_messages(tx, arn, sub))

    try:
        await store.write(fill)
        assert await store.read(reachable) == (953, True, True)
        await store.write(lambda tx: tx.delete_sub_channel(arn, "doomed"))
        assert await store.read(reachable) == (925, False, False)
        assert await store.read(lambda tx: tx.message(arn, "m001")) is not None
        assert await store.read(lambda tx: left(tx, "doomed")) == 28

        remaining = []
        while await store.write(lambda tx: tx.purge_deleted_messages(5)):
            remaining.append(await store.read(lambda tx: left(tx, "doomed")))
        # Three of its messages in the five numbers from each next one (1-5, 7-11 ... 43-47),
        # then 49; then 17 writes that each look through 50 numbers (54-103 ... 854-903) and
        # find none; then the last three.
        assert remaining == [25, 22, 19, 16, 13, 10, 7, 4, 3, *[3] * 17, 0]
        assert await store.read(lambda tx: left(tx, "kept")) == 925

        # Deleted again with messages, then brought back under its id: it starts empty.
        m = dataclasses.replace(plain_message(arn, "late"), sub_channel_id="doomed")
        await store.write(lambda tx: tx.insert_sub_channel(SubChannel(arn, "doomed", 2, 0, 0, 1)))
        await store.write(lambda tx: tx.insert_message_at_next_seq(m, last_message=None))
        await store.write(lambda tx: tx.delete_sub_channel(arn, "doomed"))
        await store.write(lambda tx: tx.insert_sub_channel(SubChannel(arn, "doomed", 2, 0, 0, 1)))
        assert await store.read(lambda tx: left(tx, "doomed")) == 0
        assert await store.write(lambda tx: tx.purge_deleted_messages(10)) is False

        # A channel's deletion takes its deleted sub-channels' leftovers with its own purge.
        await store.write(lambda tx: tx.insert_message_at_next_seq(m, last_message=None))
        await store.write(lambda tx: tx.delete_sub_channel(arn, "doomed"))
        await store.write(lambda tx: tx.delete_channel(arn))
        while await store.write(lambda tx: tx.purge_deleted_messages(1000)):
            pass
        assert await store.read(lambda tx: (left(tx, "doomed"), left(tx, "kept"))) == (0, 0)
    finally:
        await store.close()


async def test_old_idempotency_tokens_are_forgotten(engine: Engine) -> None:
    store = engine.open()
    try:
        await store.write(lambda tx: tx.remember_result("s", "old", "f", {"a": 1}, 100.0))
        await store.write(lambda tx: tx.remember_result("s", "new", "f", {"a": 2}, 200.0))
        assert await store.write(lambda tx: tx.forget_results_before(150.0, 10)) is False
        assert await store.read(lambda tx: tx.idempotent_result("s", "old")) is None
        assert await store.read(lambda tx: tx.idempotent_result("s", "new")) == ("f", {"a": 2})
    finally:
        await store.close()


def _remember(tx: Tx, key: str, moment: float) -> None:
    tx.remember_result("s", key, "f", {"key": key}, moment)


def _ended_invocation(tx: Tx, key: str, moment: float) -> None:
    from bellwire.records.flows import FlowInvocation

    state = "DENIED" if key == "tie" else "SENT"
    tx.insert_invocation(
        FlowInvocation(key, "arn:c", key, "CREATE", "arn:f", {}, {}, state, 1.0, ended=moment)
    )


def _pending_invocation(tx: Tx) -> None:
    from bellwire.records.flows import FlowInvocation

    tx.insert_invocation(
        FlowInvocation("waiting", "arn:c", "waiting", "CREATE", "arn:f", {}, {}, "PENDING", 1.0)
    )


async def test_invocations_are_claimed_once_their_claim_ended_until_accepted(
    engine: Engine,
) -> None:
    """An invocation not accepted by its processor is its writer's for ``hold`` seconds, then
    anyone's to claim (oldest first); a claim holds it until it ends; accepted or ended, it is
    nobody's. A node may take its own claims earlier than the others' (a restart's)."""
    from bellwire.records.flows import FlowInvocation

    def invocation(
        key: str, created: float, state: str = "PENDING", invoker: str | None = None
    ) -> FlowInvocation:
        return FlowInvocation(
            key, "arn:c", key, "CREATE", "arn:f", {}, {}, state, created, invoker=invoker
        )

    store = engine.open()

    def claim(free_before: float, limit: int = 10, node: str = "other", mine: float = 0.0) -> Any:
        return store.write(
            lambda tx: [
                i.callback_id
                for i in tx.claim_invocations(
                    node, mine or free_before, free_before, 10.0, 230.0, limit
                )
            ]
        )

    try:
        await store.write(
            lambda tx: [
                tx.insert_invocation(i)
                for i in (
                    invocation("a", 100.0),
                    invocation("accepted", 100.0),
                    invocation("ended", 100.0, "SENT"),
                    invocation("new", 195.0),  # its writer's until 205
                    invocation("mine", 196.0, invoker="me"),  # until 206
                    invocation("old", 90.0),
                )
            ]
        )
        # More than one statement's worth, unknown ids among them.
        ids = ["accepted", "ended", *(f"gone{i}" for i in range(70))]
        await store.write(lambda tx: tx.accept_invocations(ids, 150.0))
        read = await store.read(lambda tx: [tx.invocation(k) for k in ("accepted", "ended", "a")])
        assert [i.accepted if i else "missing" for i in read] == [150.0, None, None]
        assert await claim(200.0, limit=1) == ["old"]
        assert await claim(200.0) == ["a"]
        assert await claim(200.0) == []
        assert await claim(200.0, node="me", mine=207.0) == ["mine"]  # not "new": not its own
        assert await claim(210.0) == ["new"]  # "mine" is claimed until 230 now
        assert await claim(231.0) == ["old", "a", "new", "mine"]  # their claims ended at 230
        # Handed back, a claim ends at once; an accepted invocation stays nobody's.
        await store.write(lambda tx: tx.hand_back_invocations(["new", "accepted"], 150.0))
        assert await claim(200.0) == ["new"]
    finally:
        await store.close()


async def test_console_sign_ins_are_kept_closed_and_forgotten(engine: Engine) -> None:
    from bellwire.records.iam import ConsoleSession

    store = engine.open()
    try:
        await store.write(
            lambda tx: [
                tx.open_console_session(f"k{i}", ConsoleSession(f"AKIA{i}", f"csrf{i}", 100.0 + i))
                for i in range(3)
            ]
        )
        found = await store.read(lambda tx: tx.console_session("k1"))
        assert found == ConsoleSession("AKIA1", "csrf1", 101.0)
        await store.write(lambda tx: tx.close_console_session("k1"))
        assert await store.read(lambda tx: tx.console_session("k1")) is None
        assert await store.write(lambda tx: tx.forget_console_sessions_before(102.0, 10)) is False
        left = await store.read(lambda tx: [tx.console_session(f"k{i}") for i in range(3)])
        assert left == [None, None, ConsoleSession("AKIA2", "csrf2", 102.0)]
    finally:
        await store.close()


# The two background prunes (SqlBase._forget_oldest): how a row is made, found and forgotten,
# and a row the prune must never take.
PRUNES = {
    "idempotency tokens": (
        _remember,
        lambda tx, key: tx.idempotent_result("s", key),
        lambda tx, moment, limit: tx.forget_results_before(moment, limit),
        None,
    ),
    "ended flow invocations": (
        _ended_invocation,
        lambda tx, key: tx.invocation(key),
        lambda tx, moment, limit: tx.forget_invocations_before(moment, limit),
        _pending_invocation,
    ),
}


@pytest.mark.parametrize("prune", list(PRUNES))
async def test_a_prune_forgets_the_oldest_first_a_batch_at_a_time(
    engine: Engine, prune: str
) -> None:
    make, find, forget, keeper = PRUNES[prune]
    store = engine.open()
    keys = [f"k{i:02d}" for i in range(25)]

    def record(tx: Tx) -> None:
        for i, key in enumerate(keys):
            make(tx, key, 100.0 + i)
        make(tx, "tie", 109.0)  # the same time as k09
        if keeper is not None:
            keeper(tx)

    async def left() -> list[str]:
        names = [*keys, "tie", "waiting"]
        found = [await store.read(lambda tx, n=n: find(tx, n)) for n in names]
        return [n for n, row in zip(names, found, strict=True) if row is not None]

    kept = ["waiting"] if keeper is not None else []
    try:
        await store.write(record)
        # Before 120.0: k00..k19 and the tie, 21 in all, in batches of about 10; the first
        # batch ends at k09's time, so the tie goes with it.
        assert await store.write(lambda tx: forget(tx, 120.0, 10)) is True
        assert await left() == [*keys[10:], *kept]
        assert await store.write(lambda tx: forget(tx, 120.0, 10)) is True
        assert await store.write(lambda tx: forget(tx, 120.0, 10)) is False
        assert await left() == [*keys[20:], *kept]
        assert await store.write(lambda tx: forget(tx, 1e9, 10)) is False
        assert await left() == kept
    finally:
        await store.close()


async def test_member_summaries_match_memberships_and_names(engine: Engine) -> None:
    from bellwire.records.chime import AppInstanceUser, Channel, Membership, MemberSummary

    store = engine.open()

    def fill(tx: Tx) -> None:
        tx.insert_channel(
            Channel("ch", "arn:app", "n", "RESTRICTED", "PRIVATE", None, "u0", 1.0, 1.0, None, 0)
        )
        for i in range(6):
            arn = f"arn:app/user/u{i}"
            if i != 3:  # u3's user record is gone: a member without a name
                tx.insert_user(AppInstanceUser(arn, "arn:app", f"User {i}", None, 1.0, 1.0))
            kind = "HIDDEN" if i == 5 else "DEFAULT"
            tx.insert_membership(Membership("ch", arn, kind, "u0", 1.0, 1.0))
        tx.set_read_marker("ch", "arn:app/user/u1", 4.5)

    try:
        await store.write(fill)

        def both(tx: Tx) -> Any:
            separate = tx.list_memberships("ch", "DEFAULT", None, 4)
            names = tx.user_names(m.member_arn for m in separate)
            expected = [
                MemberSummary(m.member_arn, names.get(m.member_arn), m.read_marker)
                for m in separate
            ]
            return expected, tx.member_summaries("ch", "DEFAULT", 4)

        expected, joined = await store.read(both)
        assert joined == expected
        assert [m.member_arn for m in joined] == [f"arn:app/user/u{i}" for i in range(4)]
        assert joined[3].name is None and joined[2].name == "User 2"
        assert joined[1].read_marker == 4.5 and joined[0].read_marker is None
    finally:
        await store.close()


async def test_upgrading_keeps_remembered_answers(engine: Engine) -> None:
    """A database from before migration 4 keeps its ClientRequestToken answers."""
    engine.sql("CREATE TABLE schema_version (version INTEGER NOT NULL)", ())
    for version in range(1, 4):
        for statement in statements(version):
            engine.sql(statement, ())
        engine.sql("INSERT INTO schema_version (version) VALUES (?)", (version,))
    engine.sql(
        "INSERT INTO idempotency (scope, token, fingerprint, result, created) "
        "VALUES ('Send|ch|u', 'tok', 'fp', '{\"MessageId\": \"m1\"}', 5.0)",
        (),
    )

    store = engine.open()
    try:
        found = await store.read(lambda tx: tx.idempotent_result("Send|ch|u", "tok"))
        assert found == ("fp", {"MessageId": "m1"})
        assert await store.read(lambda tx: tx.idempotent_result("Send|other|u", "tok")) is None
    finally:
        await store.close()


async def test_consumers_see_a_channels_sequence_in_order(engine: Engine) -> None:
    """Concurrent writes to a few channels: each channel's committed consumers run in sequence
    order with no gap, whichever writer (thread or connection) committed them."""
    from bellwire.records.chime import Channel

    store = engine.open(max_batch=8)
    names = ["x", "y", "z"]

    def make(tx: Tx) -> None:
        for n in names:
            tx.insert_channel(
                Channel(n, "arn:app", n, "RESTRICTED", "PRIVATE", None, "u", 1.0, 1.0, None, 0)
            )

    seen: dict[str, list[int]] = {n: [] for n in names}
    try:
        await store.write(make)
        await asyncio.gather(
            *(
                store.write(
                    lambda tx, c=names[i % 3]: (c, tx.next_seq(c)),
                    lambda got: seen[got[0]].append(got[1]),
                    # keyed units go to their channel's writer, the others to any writer
                    key=names[i % 3] if i % 2 else None,
                )
                for i in range(300)
            )
        )
        assert seen == {n: list(range(1, 101)) for n in names}
    finally:
        await store.close()


async def _written_then_read(engine: Engine, setup: Any, read: Any) -> Any:
    """``read``'s answer on a fresh store where ``setup`` was written."""
    store = engine.open()
    try:
        await store.write(setup)
        return await store.read(read)
    finally:
        await store.close()


async def test_bearer_in_channel_reads_what_the_single_lookups_read(engine: Engine) -> None:
    from bellwire.records.bots import AppInstanceBot
    from bellwire.records.chime import (
        Admin,
        AppInstanceUser,
        Channel,
        ElasticConfiguration,
        Membership,
        Moderator,
    )
    from bellwire.records.flows import ChannelFlow

    ai, other = "arn:app/0001", "arn:app/0002"
    users = [AppInstanceUser(f"{ai}/user/u{i}", ai, f"u{i}", None, 1.0, 1.0) for i in range(5)]
    stranger = AppInstanceUser(f"{other}/user/s", other, "s", "meta", 1.0, 2.0, 3, "CREATED")
    regular = Channel(
        f"{ai}/channel/c", ai, "c", "RESTRICTED", "PRIVATE", None, "x", 1.0, 1.0, None, 0
    )
    elastic = Channel(
        f"{ai}/channel/e",
        ai,
        "e",
        "RESTRICTED",
        "PRIVATE",
        None,
        "x",
        1.0,
        1.0,
        None,
        0,
        elastic=ElasticConfiguration(5, 10, 30),
    )

    def setup(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        tx.insert_app_instance(app(2))
        for u in [*users, stranger]:
            tx.insert_user(u)
        tx.insert_channel(regular)
        tx.insert_channel(elastic)
        tx.insert_admin(Admin(ai, users[1].arn, 1.0))
        tx.insert_flow(ChannelFlow(f"{ai}/channel-flow/f", ai, "f", [{"Name": "p"}], 1.0, 1.0))
        tx.associate_flow(regular.arn, f"{ai}/channel-flow/f", 1.0)
        bot = f"{ai}/bot/b"
        tx.insert_bot(AppInstanceBot(bot, ai, "b", None, {}, 1.0, 1.0))
        tx.insert_membership(Membership(regular.arn, bot, "DEFAULT", "x", 1.0, 1.0))
        tx.set_streaming_configurations(ai, {"ChannelMessage": "arn:aws:kinesis:s"})
        tx.remember_result("scope-1", "token-1", "fp", {"MessageId": "m"}, 1.0)
        tx.insert_moderator(Moderator(regular.arn, users[2].arn, "x", 1.0))
        tx.insert_moderator(Moderator(elastic.arn, users[2].arn, "x", 1.0))
        for u in users[:3]:
            tx.insert_membership(
                Membership(regular.arn, u.arn, "DEFAULT", "x", 1.0, 1.0, preferences={"a": 1})
            )
        tx.insert_membership(Membership(regular.arn, users[3].arn, "HIDDEN", "x", 1.0, 1.0, 2.0))
        tx.insert_membership(
            Membership(
                elastic.arn,
                users[2].arn,
                "DEFAULT",
                "x",
                1.0,
                1.0,
                sub_channel_id="s1",
                moderator=True,
            )
        )
        tx.insert_membership(
            Membership(elastic.arn, users[0].arn, "DEFAULT", "x", 1.0, 1.0, sub_channel_id="s2")
        )

    def both(tx: Tx) -> list[tuple[object, object]]:
        pairs = []
        for bearer in [*(u.arn for u in users), stranger.arn, f"{ai}/user/none"]:
            for channel in (regular.arn, elastic.arn, f"{ai}/channel/none"):
                found = tx.bearer_in_channel(bearer, channel, remembered=("scope-1", "token-1"))
                other = tx.bearer_in_channel(bearer, channel, remembered=("scope-2", "token-1"))
                assert other.remembered is None and other.remembered_key == ("scope-2", "token-1")
                assert found.remembered == tx.idempotent_result("scope-1", "token-1")
                c = tx.channel(channel)
                one_by_one = (
                    tx.user(bearer),
                    c,
                    c is not None and tx.admin(c.app_instance_arn, bearer) is not None,
                    tx.moderator(channel, bearer) is not None,
                    tx.membership(channel, bearer),
                    tx.flow_of_channel(channel),
                    (flow := tx.flow_of_channel(channel)) and tx.flow_processors(flow),
                    c is not None and bool(tx.bots_in_channel(c.app_instance_arn, channel)),
                    c and tx.streaming_configurations(c.app_instance_arn),
                )
                if one_by_one[0] is None or c is None:
                    # Nothing but the missing record matters then (the rules stop there).
                    pairs.append(((found.user, found.channel), one_by_one[:2]))
                    continue
                got = (
                    found.user,
                    found.channel,
                    found.is_admin,
                    found.is_moderator,
                    found.membership,
                    found.flow_arn,
                    found.flow_processors,
                    found.has_bots,
                    found.streaming,
                )
                pairs.append((got, one_by_one))
        return pairs

    pairs = await _written_then_read(engine, setup, both)
    assert len(pairs) == 21
    for got, want in pairs:
        assert got == want
    # The fixtures reach every branch: an admin, a moderator, a hidden member, an elastic
    # membership, a stranger from another app instance.
    full = [g for g, _ in pairs if len(g) == 9]
    assert any(g[2] for g in full)
    assert any(g[3] for g in full)
    assert any(g[4] is not None and g[4].sub_channel_id for g in full)
    assert any(g[5] is not None for g in full)
    assert any(g[6] == ({"Name": "p"},) for g in full)
    assert any(g[7] for g in full) and not all(g[7] for g in full)
    assert any(g[8] for g in full)


async def test_invocation_for_callback_reads_what_the_single_lookups_read(
    engine: Engine,
) -> None:
    from bellwire.records.bots import AppInstanceBot
    from bellwire.records.chime import Channel, Membership, Message
    from bellwire.records.flows import FlowInvocation

    ai = "arn:app/0001"
    channels = [
        Channel(f"{ai}/channel/{n}", ai, n, "RESTRICTED", "PRIVATE", None, "x", 1.0, 1.0, None, 0)
        for n in ("plain", "bots")
    ]
    # (callback id, channel, message id, whether the message is stored)
    cases = [
        ("stored", channels[0].arn, "m1", True),
        ("not-stored", channels[0].arn, "m2", False),
        ("with-bots", channels[1].arn, "m3", True),
        ("channel-gone", f"{ai}/channel/gone", "m4", False),
    ]

    def setup(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        for c in channels:
            tx.insert_channel(c)
        bot = f"{ai}/bot/b"
        tx.insert_bot(AppInstanceBot(bot, ai, "b", None, {}, 1.0, 1.0))
        tx.insert_membership(Membership(channels[1].arn, bot, "DEFAULT", "x", 1.0, 1.0))
        tx.set_streaming_configurations(ai, {"Channel": "arn:aws:kinesis:c"})
        for callback_id, channel, message_id, stored in cases:
            if stored:
                tx.insert_message(
                    Message(
                        channel,
                        message_id,
                        1,
                        "arn:u",
                        "u",
                        "hi",
                        None,
                        "STANDARD",
                        "PERSISTENT",
                        False,
                        1.0,
                        1.0,
                        status="PENDING",
                    )
                )
            tx.insert_invocation(
                FlowInvocation(
                    callback_id,
                    channel,
                    message_id,
                    "CREATE",
                    "arn:f",
                    {"Name": "p"},
                    {"content": "hi"},
                    "PENDING",
                    1.0,
                )
            )

    def both(tx: Tx) -> list[tuple[object, object]]:
        pairs: list[tuple[object, object]] = [(tx.invocation_for_callback("none"), None)]
        for callback_id, channel, message_id, _ in cases:
            reads = tx.invocation_for_callback(callback_id)
            assert reads is not None
            one_by_one = (
                tx.invocation(callback_id),
                tx.app_instance_of_channel(channel),
                tx.message_exists(channel, message_id),
            )
            pairs.append(((reads.invocation, reads.channel, reads.message_stored), one_by_one))
        return pairs

    pairs = await _written_then_read(engine, setup, both)
    for got, want in pairs:
        assert got == want
    # The cases reach every branch: stored or not, bots or not, the channel gone.
    found = [got for got, _ in pairs[1:]]
    assert [g[2] for g in found] == [True, False, True, False]  # type: ignore[index]
    assert [g[1] is None for g in found] == [False, False, False, True]  # type: ignore[index]
    assert [g[1][1] for g in found[:3]] == [False, False, True]  # type: ignore[index]
    assert found[0][1] == (ai, False, {"Channel": "arn:aws:kinesis:c"})  # type: ignore[index]


def test_bearer_in_channel_reads_every_streaming_data_type() -> None:
    from bellwire.domain.export import DataType
    from bellwire.store.sql.channels import STREAM_DATA_TYPES

    assert set(STREAM_DATA_TYPES) == {str(t) for t in DataType}


def test_message_columns_are_in_the_records_field_order() -> None:
    # Rows become Messages positionally (bellwire.store.sql.messages._message).
    from dataclasses import fields

    from bellwire.records.chime import Message
    from bellwire.store.sql.messages import MESSAGE_COLUMNS

    assert [c.strip() for c in MESSAGE_COLUMNS.split(",")] == [f.name for f in fields(Message)]


async def test_insert_message_at_next_seq_is_next_seq_then_insert(engine: Engine) -> None:
    from dataclasses import replace

    from bellwire.records.chime import Channel, Message

    ai = "arn:app/0001"
    channel = Channel(f"{ai}/channel/c", ai, "c", "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0)
    m = Message(
        channel_arn=channel.arn,
        message_id="m1",
        seq=0,
        sender_arn=f"{ai}/user/u",
        sender_name="u",
        content="hi",
        metadata="meta",
        type="STANDARD",
        persistence="PERSISTENT",
        redacted=False,
        created=5.5,
        last_updated=5.5,
        attributes={"a": {"StringValues": ["1"]}},
        content_type="text/plain",
        target_arn=None,
        push={"Title": "t", "Body": "b", "Type": "DEFAULT"},
        status="SENT",
        sub_channel_id=None,
    )

    def run(tx: Tx) -> tuple[int, int, int]:
        tx.insert_app_instance(app(1))
        tx.insert_channel(channel)
        first = tx.next_seq(channel.arn)
        second = tx.insert_message_at_next_seq(m, last_message=None)
        third = tx.insert_message_at_next_seq(replace(m, message_id="m2"), last_message=7.25)
        return first, second, third

    def missing(tx: Tx) -> int:
        return tx.insert_message_at_next_seq(
            replace(m, channel_arn=f"{ai}/channel/none"), last_message=1
        )

    store = engine.open()
    try:
        assert await store.write(run) == (1, 2, 3)
        stored = await store.read(
            lambda tx: (
                tx.message(channel.arn, "m1"),
                tx.message(channel.arn, "m2"),
                tx.channel(channel.arn),
            )
        )
        assert stored[0] == replace(m, seq=2)
        assert stored[1] == replace(m, message_id="m2", seq=3)
        assert stored[2] is not None and stored[2].seq == 3 and stored[2].last_message == 7.25
        with pytest.raises(LookupError):
            await store.write(missing)
        assert engine.sql("SELECT COUNT(*) FROM messages", ()) == [(2,)]
    finally:
        await store.close()


async def test_positions_read_what_a_connect_needs_of_each_membership(engine: Engine) -> None:
    from bellwire.records.chime import (
        AppInstanceUser,
        Channel,
        ElasticConfiguration,
        Membership,
        Position,
        SubChannel,
    )

    ai = "arn:app/0001"
    alone, member = (AppInstanceUser(f"{ai}/user/{n}", ai, n, None, 1.0, 1.0) for n in "am")

    def channel(name: str, elastic: ElasticConfiguration | None = None) -> Channel:
        arn = f"{ai}/channel/{name}"
        return Channel(
            arn, ai, name, "RESTRICTED", "PRIVATE", None, "x", 1, 1, None, 0, elastic=elastic
        )

    quiet, busy = channel("a"), channel("b")
    elastic = channel("e", ElasticConfiguration(5, 10, 30))

    def setup(tx: Tx) -> None:
        tx.insert_app_instance(app(1))
        for u in (alone, member):
            tx.insert_user(u)
        for c in (quiet, busy, elastic):
            tx.insert_channel(c)
        tx.insert_sub_channel(SubChannel(elastic.arn, "s1", 0, 1, 0, 1.0))
        for c in (quiet, busy):
            tx.insert_membership(Membership(c.arn, member.arn, "DEFAULT", "x", 1.0, 1.0))
        tx.insert_membership(
            Membership(elastic.arn, member.arn, "DEFAULT", "x", 1.0, 1.0, sub_channel_id="s1")
        )
        for _ in range(3):
            tx.next_seq(busy.arn, last_message=7.5)
        tx.next_seq(elastic.arn)
        tx.next_sub_seqs(elastic.arn, "s1", 2)
        tx.set_read_marker(busy.arn, member.arn, 6.0)  # and the channel's details_version

    store = engine.open()
    try:
        await store.write(setup)
        got = await store.read(
            lambda tx: [tx.positions(u) for u in (f"{ai}/user/none", alone.arn, member.arn)]
        )
        unmarked = await store.read(
            lambda tx: [
                tx.positions(u, read_markers=False)
                for u in (f"{ai}/user/none", alone.arn, member.arn)
            ]
        )
    finally:
        await store.close()
    assert got == [
        None,  # no such user
        [],  # a user in no channel
        [
            Position(quiet.arn, None, None, None, 0, 0, 0),
            Position(busy.arn, None, 6.0, 7.5, 3, 1, 3),
            # A sub-channel's session starts from the sub-channel's own number.
            Position(elastic.arn, "s1", None, None, 1, 0, 2),
        ],
    ]
    assert got[2] is not None and got[2][2].route_key == f"{elastic.arn}/subchannel/s1"
    # The same without the read markers (what a connect without prefetch reads).
    assert unmarked == [None, [], [p._replace(read_marker=None) for p in got[2]]]


async def test_the_outbox_names_each_stream_with_records_once(engine: Engine) -> None:
    streams = [f"arn:aws:kinesis:us-east-1:123456789012:stream/s{n}" for n in (2, 0, 1)]
    store = engine.open()
    try:
        assert await store.read(lambda tx: tx.outbox_sinks()) == []
        rows = [(streams[n % 3], "arn:c", f"r{n}") for n in range(30)]
        ids = await store.write(lambda tx: tx.append_outbox(rows, 1.0))
        assert sorted(await store.read(lambda tx: tx.outbox_sinks())) == sorted(streams)
        await store.write(lambda tx: tx.acknowledge_outbox([streams[1]], ids[-1]))
        assert sorted(await store.read(lambda tx: tx.outbox_sinks())) == sorted(
            [streams[0], streams[2]]
        )
    finally:
        await store.close()


def test_the_outbox_streams_on_sqlite_cost_a_probe_each_not_a_record_each(tmp_path: Any) -> None:
    # The relay asks at every pass, and while a sink is down its records pile up: a DISTINCT
    # over them cost 48 ms a pass at a million. Counted in SQLite's virtual machine steps.
    from bellwire.store.sql import SqlTx
    from bellwire.store.sqlite import _connect, migrate

    conn = _connect(tmp_path / "db.sqlite", "normal")
    try:
        migrate(conn)
        tx = SqlTx(conn.cursor())
        tx.append_outbox([(f"arn:s{n % 2}", "arn:c", "r") for n in range(20_000)], 1.0)
        steps = 0

        def step() -> int:
            nonlocal steps
            steps += 1
            return 0

        conn.set_progress_handler(step, 100)
        assert tx.outbox_sinks() == ["arn:s0", "arn:s1"]
        conn.set_progress_handler(None, 0)
    finally:
        conn.close()
    assert steps < 20, steps  # hundreds of steps of 100, not 20,000 records' worth


def _sqlite_plans(tmp_path: Any, run: Callable[[Any], object]) -> dict[str, list[str]]:
    """The SQLite plan of each statement ``run`` makes through the shared SQL."""
    import sqlite3

    from bellwire.store.sql import SqlTx
    from bellwire.store.sqlite import _connect, migrate

    class Recording:
        def __init__(self, cursor: sqlite3.Cursor) -> None:
            self.cursor, self.statements = cursor, list[str]()

        def execute(self, sql: str, params: Any = ()) -> Any:
            self.statements.append(sql)
            return self.cursor.execute(sql, params)

        def fetchone(self) -> Any:
            return self.cursor.fetchone()

        def fetchall(self) -> Any:
            return self.cursor.fetchall()

    conn = _connect(tmp_path / "db.sqlite", "normal")
    try:
        migrate(conn)
        recording = Recording(conn.cursor())
        run(SqlTx(recording))
        return {
            sql: [
                step[3] for step in conn.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?"))
            ]
            for sql in recording.statements
        }
    finally:
        conn.close()


def test_deleting_a_user_on_sqlite_scans_no_table(tmp_path: Any) -> None:
    # Every DeleteAppInstanceUser and every user's expiration runs these: a plan that scans a
    # table (every sub-channel, every ban of the store) costs a probe of each of its rows per
    # user, and no result would show it.
    plans = _sqlite_plans(tmp_path, lambda tx: tx.delete_user("arn:u"))
    assert len(plans) >= 8
    assert {
        sql: plan for sql, plan in plans.items() if any(s.startswith("SCAN") for s in plan)
    } == {}


def test_the_expiration_sweep_on_sqlite_reads_only_what_has_settings(tmp_path: Any) -> None:
    # The sweep runs in a write: through every channel and user of the store, it held the
    # writer for as long as they took to read.
    plans = _sqlite_plans(
        tmp_path,
        lambda tx: (tx.channels_expiring_by(1e9, 10), tx.users_expiring_by(1e9, 10)),
    )
    assert [plan for plan in plans.values()] == [
        ["SCAN channels USING INDEX channels_expiring"],
        ["SCAN users USING INDEX users_expiring"],
    ]


def test_a_time_window_of_messages_on_sqlite_walks_the_channel_in_order(tmp_path: Any) -> None:
    # ListChannelMessages with NotBefore / NotAfter: through the (channel, created) index the
    # plan read and sorted every message of the window (with NotAfter alone, the channel's
    # whole history) for each page.
    plans = _sqlite_plans(
        tmp_path,
        lambda tx: [
            tx.list_messages(
                "arn:c",
                viewer=viewer,
                descending=descending,
                not_before=window[0],
                not_after=window[1],
                after_seq=None,
                limit=50,
            )
            for viewer in (None, "arn:u")
            for descending in (False, True)
            for window in ((1.0, None), (None, 2.0), (1.0, 2.0))
        ],
    )
    assert len(plans) == 12
    for plan in plans.values():
        assert plan[0] == "SEARCH messages USING INDEX messages_by_seq (channel_arn=?)", plan
        assert not [step for step in plan if "TEMP B-TREE" in step], plan


def test_the_retention_sweep_on_sqlite_probes_each_channel_for_its_old_messages(
    tmp_path: Any,
) -> None:
    # Also in a write: walking every message of the instance (and sorting them) held the
    # writer 1.6 s a batch at a million messages.
    plans = _sqlite_plans(tmp_path, lambda tx: tx.messages_created_before("arn:a", 1e9, 10))
    assert list(plans.values()) == [
        [
            "SEARCH c USING COVERING INDEX channels_by_app_instance (app_instance_arn=?)",
            "SEARCH m USING INDEX messages_by_age (channel_arn=? AND created<?)",
        ]
    ]


def test_positions_on_sqlite_search_indexes_and_scan_nothing(tmp_path: Any) -> None:
    # Every connect runs it: a plan that scans (SQLite materializes a parenthesized inner join
    # whole) costs a scan of every membership per connect, and no result would show it.
    from bellwire.store.sql.snapshots import _POSITIONS_MARKED, _POSITIONS_UNMARKED
    from bellwire.store.sqlite import _connect, migrate

    conn = _connect(tmp_path / "db.sqlite", "normal")
    try:
        migrate(conn)
        marked, unmarked = (
            [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, ("arn:u",))]
            for sql in (_POSITIONS_MARKED, _POSITIONS_UNMARKED)
        )
    finally:
        conn.close()
    for plan in (marked, unmarked):
        assert plan and all(step.startswith("SEARCH") for step in plan), plan
    # Without read markers, each membership comes from the index by member alone (migration
    # 13): a table lookup per membership as well cost a storm's reader about 15 µs a connect.
    assert any("COVERING INDEX memberships_by_member" in step for step in unmarked), unmarked
