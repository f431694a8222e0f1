"""What only the PostgreSQL engine has to prove: several writers and several nodes on one
database, conflicts retried without running a consumer twice, concurrent migrations, and
connections the server dropped. (Everything both engines promise is in test_store.py.)"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from store_engines import plain_message

from bellwire.records.chime import AppInstance, Channel
from bellwire.store.base import IamTx
from bellwire.store.migrations import MIGRATIONS
from bellwire.store.pipeline import Pipeline, PipelineCursor
from bellwire.store.postgres import PostgresStore, migrate
from bellwire.testing import postgres_url, temporary_database


@pytest.fixture
def url() -> Iterator[str]:
    with temporary_database(postgres_url()) as made:
        yield made


def channel(arn: str) -> Channel:
    return Channel(arn, "arn:app", arn, "RESTRICTED", "PRIVATE", None, "u", 1.0, 1.0, None, 0)


async def test_two_nodes_share_one_gapless_ordered_sequence(url: str) -> None:
    """Two stores (two nodes) with several writers each send to one channel at once."""
    a = PostgresStore(url, writers=3, max_batch=4)
    b = PostgresStore(url, writers=3, max_batch=4)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    try:
        await a.write(lambda tx: tx.insert_channel(channel("c")))

        def send(node: str, store: PostgresStore) -> Any:
            return store.write(lambda tx: tx.next_seq("c"), seen[node].append)

        results = await asyncio.gather(
            *(send("a", a) for _ in range(150)), *(send("b", b) for _ in range(150))
        )
        assert sorted(results) == list(range(1, 301))  # none lost, none taken twice
        # Each node publishes its share in sequence order, whichever writer committed it.
        assert seen["a"] == sorted(seen["a"]) and seen["b"] == sorted(seen["b"])
        assert sorted(seen["a"] + seen["b"]) == list(range(1, 301))
    finally:
        await a.close()
        await b.close()


async def test_a_deadlock_between_writers_is_retried_and_consumed_once(url: str) -> None:
    """Two units take two channels' locks in opposite orders on two writers: PostgreSQL (or the
    lock timeout) breaks the cycle, the loser runs again, and every consumer runs once."""
    store = PostgresStore(url, writers=2, max_batch=1)
    runs: dict[str, int] = {"xy": 0, "yx": 0}
    consumed: list[str] = []
    both_in = threading.Barrier(2, timeout=5)

    def crossing(first: str, second: str) -> Any:
        def unit(tx: IamTx) -> str:
            runs[first + second] += 1
            tx.next_seq(first)
            if runs[first + second] == 1:
                both_in.wait()  # each holds its first lock before asking for the other
            tx.next_seq(second)
            return first + second

        return unit

    try:
        await store.write(
            lambda tx: (tx.insert_channel(channel("x")), tx.insert_channel(channel("y")))
        )
        done = await asyncio.gather(
            store.write(crossing("x", "y"), consumed.append),
            store.write(crossing("y", "x"), consumed.append),
        )
        assert sorted(done) == ["xy", "yx"]
        assert sorted(consumed) == ["xy", "yx"]  # once each, though one unit ran twice
        assert sum(runs.values()) >= 3
        seqs = await store.read(lambda tx: (tx.channel("x"), tx.channel("y")))
        assert [c.seq for c in seqs if c] == [2, 2]  # the undone attempt left no gap
    finally:
        await store.close()


async def test_a_duplicate_key_of_a_units_own_fails_that_unit_alone(url: str) -> None:
    store = PostgresStore(url)
    app = AppInstance("arn:app/1", "one", None, 1.0, 1.0)
    try:
        await store.write(lambda tx: tx.insert_app_instance(app))
        outcomes = await asyncio.gather(
            store.write(lambda tx: tx.insert_app_instance(app)),
            store.write(
                lambda tx: tx.insert_app_instance(AppInstance("arn:app/2", "two", None, 1.0, 1.0))
            ),
            return_exceptions=True,
        )
        assert isinstance(outcomes[0], psycopg.errors.UniqueViolation)
        assert outcomes[1] is None
        listed = await store.read(lambda tx: tx.list_app_instances(None, 10))
        assert [a.arn for a in listed] == ["arn:app/1", "arn:app/2"]
    finally:
        await store.close()


def test_nodes_migrating_at_once_do_not_race(url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4, timeout=10)

    def node() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                start.wait()
                migrate(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [v for (v,) in versions] == list(range(1, len(MIGRATIONS) + 1))


async def test_connections_the_server_dropped_are_replaced(url: str) -> None:
    """pg_terminate_backend on every connection of the node (as a database restart does): the
    next read and write reconnect without failing."""
    store = PostgresStore(url, writers=2, readers=2)
    try:
        await store.write(
            lambda tx: tx.insert_app_instance(AppInstance("arn:app/1", "a", None, 1.0, 1.0))
        )
        assert await store.read(lambda tx: tx.app_instance("arn:app/1")) is not None
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            killed = admin.execute(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'bellwire'",
                (name,),
            ).fetchone()
        assert killed and killed[0] >= 2
        time.sleep(0.2)
        assert await store.read(lambda tx: tx.app_instance("arn:app/1")) is not None
        await store.write(
            lambda tx: tx.insert_app_instance(AppInstance("arn:app/2", "b", None, 1.0, 1.0))
        )
        assert len(await store.read(lambda tx: tx.list_app_instances(None, 10))) == 2
        # Again, with units that read before they write (the drop shows at the first answer).
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'bellwire'",
                (name,),
            )
        time.sleep(0.2)

        def read_then_write(tx: IamTx, i: int) -> None:
            assert tx.app_instance("arn:app/1") is not None
            tx.insert_app_instance(AppInstance(f"arn:app/r{i}", "c", None, 1.0, 1.0))

        await asyncio.gather(
            *(store.write(lambda tx, i=i: read_then_write(tx, i)) for i in range(4))
        )
        assert len(await store.read(lambda tx: tx.list_app_instances(None, 10))) == 6
    finally:
        await store.close()


# --- sends whose number is predicted ---------------------------------------------------------


async def test_sends_in_a_batch_predict_their_numbers_and_each_failure_stays_its_own(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bellwire.store import pipeline

    predicted: list[int] = []
    real_predict = pipeline.PipelineCursor.predict

    def counting(self: pipeline.PipelineCursor, sql: str, params: Any, value: int) -> None:
        predicted.append(value)
        real_predict(self, sql, params, value)

    monkeypatch.setattr(pipeline.PipelineCursor, "predict", counting)
    arn = "arn:app/channel/c"
    store = PostgresStore(url, writers=1, max_batch=64)
    try:
        await store.write(lambda tx: tx.insert_channel(channel(arn)))

        def send(i: int) -> Any:
            def unit(tx: IamTx) -> int:
                seq = tx.insert_message_at_next_seq(plain_message(arn, f"m{i}"), last_message=None)
                if i % 7 == 3:  # its own failure, after its write (a rule checked late)
                    raise ValueError(f"unit {i} refused")
                return seq

            return unit

        outcomes = await asyncio.gather(
            *(store.write(send(i), key=arn) for i in range(60)), return_exceptions=True
        )
        failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
        assert failed == [i for i in range(60) if i % 7 == 3]
        assert all(isinstance(outcomes[i], ValueError) for i in failed)
        rows = await store.read(
            lambda tx: [(m.message_id, m.seq) for m in tx.list_messages(
                arn, viewer=None, descending=False, not_before=None, not_after=None,
                after_seq=None, limit=100, sub_channel_id=None,
            )]
        )  # fmt: skip
        # What each send answered is what was stored, the numbers gapless; nothing of a
        # failed unit is kept.
        answered = {f"m{i}": o for i, o in enumerate(outcomes) if not isinstance(o, BaseException)}
        assert dict(rows) == answered
        assert sorted(seq for _, seq in rows) == list(range(1, len(rows) + 1))
        assert predicted  # the batches did predict (else this proves nothing about them)
    finally:
        await store.close()


async def test_a_wrong_prediction_runs_the_unit_again_without_predicting(url: str) -> None:
    arn = "arn:app/channel/c"
    store = PostgresStore(url)

    def moved_behind_its_back(tx: IamTx) -> tuple[int, int]:
        first = tx.insert_message_at_next_seq(plain_message(arn, "a"), last_message=None)
        tx._run("UPDATE channels SET seq = seq + 5 WHERE arn = ?", (arn,))  # type: ignore[attr-defined]
        return first, tx.insert_message_at_next_seq(plain_message(arn, "b"), last_message=None)

    def duplicate(tx: IamTx) -> None:
        tx.insert_message_at_next_seq(plain_message(arn, "c"), last_message=None)
        tx.insert_message_at_next_seq(plain_message(arn, "c"), last_message=None)  # the same id

    try:
        await store.write(lambda tx: tx.insert_channel(channel(arn)))
        assert await store.write(moved_behind_its_back) == (1, 7)
        # The error of a predicted statement is found at the next answer; run alone, the unit
        # meets it itself, and fails with it, undone.
        with pytest.raises(psycopg.errors.UniqueViolation):
            await store.write(duplicate)
        stored = await store.read(lambda tx: [tx.message(arn, i) for i in "abc"])
        assert [m.seq if m else None for m in stored] == [1, 7, None]
    finally:
        await store.close()


# --- batches without savepoints --------------------------------------------------------------


async def test_a_batch_takes_savepoints_only_after_a_unit_failed_that_had_written(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Units that succeed, or fail before they write, share a batch with no savepoint; one
    that fails after its write sends the batch round again with a savepoint per unit, and
    every other unit's write is committed once."""
    from bellwire.store import pipeline

    sent: list[str] = []
    real_queue = pipeline.Pipeline.queue

    def recording(self: pipeline.Pipeline, sql: str, params: Any = ()) -> Any:
        sent.append(sql)
        return real_queue(self, sql, params)

    monkeypatch.setattr(pipeline.Pipeline, "queue", recording)
    store = PostgresStore(url, writers=1, max_batch=64)
    gate = threading.Event()
    try:
        await store.write(lambda tx: tx.insert_channel(channel("c")))

        def held(tx: IamTx) -> None:  # keeps the writer busy while the batch queues up
            gate.wait(5)

        def app(i: int, fail: str | None) -> Any:
            def unit(tx: IamTx) -> str:
                if fail == "before":
                    assert tx.app_instance("arn:app/0") is None  # a read, then the refusal
                    raise ValueError(f"unit {i} refused before writing")
                tx.insert_app_instance(AppInstance(f"arn:app/{i}", "a", None, 1.0, 1.0))
                if fail == "after":
                    raise ValueError(f"unit {i} refused after writing")
                return f"arn:app/{i}"

            return unit

        async def batch(fails: dict[int, str]) -> list[Any]:
            first = asyncio.ensure_future(store.write(held))
            await asyncio.sleep(0.05)
            units = [
                asyncio.ensure_future(store.write(app(i, fails.get(i))))
                for i in range(base, base + 10)
            ]  # queued behind the held unit: one batch
            await asyncio.sleep(0.05)
            sent.clear()
            gate.set()
            await first
            gate.clear()
            return await asyncio.gather(*units, return_exceptions=True)

        base = 1
        outcomes = await batch({3: "before", 7: "before"})
        assert [isinstance(o, ValueError) for o in outcomes] == [i in (3, 7) for i in range(1, 11)]
        assert not any("SAVEPOINT" in sql for sql in sent)

        base = 11
        outcomes = await batch({14: "after"})
        assert [isinstance(o, ValueError) for o in outcomes] == [i == 14 for i in range(11, 21)]
        assert sent.count("SAVEPOINT unit") == 10  # the round again, one per unit
        assert sent.count("ROLLBACK TO SAVEPOINT unit") == 1
        stored = await store.read(lambda tx: tx.list_app_instances(None, 50))
        assert sorted(a.arn for a in stored) == sorted(
            f"arn:app/{i}" for i in range(1, 21) if i not in (3, 7, 14)
        )
    finally:
        gate.set()
        await store.close()


# --- reads ahead of a batch's sends ----------------------------------------------------------


async def _one_batch(store: PostgresStore, units: list[tuple[Any, bool]]) -> list[Any]:
    """``units`` (fn, ahead) queued behind a unit that holds the writer: one batch."""
    gate = threading.Event()
    first = asyncio.ensure_future(store.write(lambda tx: gate.wait(5)))
    await asyncio.sleep(0.05)
    queued = [asyncio.ensure_future(store.write(fn, ahead=ahead)) for fn, ahead in units]
    await asyncio.sleep(0.05)
    gate.set()
    await first
    return await asyncio.gather(*queued, return_exceptions=True)


def _queued(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> list[tuple[str, Any]]:
    """(name, first parameter) of each statement of ``names`` (SQL -> name) the writers
    queue, in order: what was read ahead, and what was read again."""
    from bellwire.store import pipeline

    seen: list[tuple[str, Any]] = []
    real_queue = pipeline.Pipeline.queue

    def recording(self: pipeline.Pipeline, sql: str, params: Any = ()) -> Any:
        if sql in names:
            seen.append((names[sql], params[0]))
        return real_queue(self, sql, params)

    monkeypatch.setattr(pipeline.Pipeline, "queue", recording)
    return seen


def _members(tx: IamTx, arn: str, users: list[str]) -> None:
    """Channel ``arn`` with ``users`` as its members."""
    from bellwire.records.chime import AppInstanceUser, Membership

    tx.insert_channel(channel(arn))
    for user in users:
        tx.insert_user(AppInstanceUser(user, "arn:app", user, None, 1.0, 1.0))
        tx.insert_membership(Membership(arn, user, "DEFAULT", users[0], 1.0, 1.0))


async def test_reads_made_ahead_answer_their_sends_until_a_write_may_change_them(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bearer statements of a batch's sends are queued before its units run; a send takes
    its own, unless another unit changed something such a read reads first: then it and every
    later send read again. Remembered answers change only the read of their own token."""
    from bellwire.store.sql.channels import BEARER_IN_CHANNEL

    bearers = _queued(monkeypatch, {BEARER_IN_CHANNEL: "bearer"})
    arn = "arn:app/channel/c"
    users = [f"arn:app/user/u{i}" for i in range(5)]
    store = PostgresStore(url, writers=1, max_batch=64)
    try:
        await store.write(lambda tx: _members(tx, arn, users))

        def send(user: str, token: str | None = None) -> Any:
            def unit(tx: IamTx) -> tuple[bool, bool]:
                remembered = (f"Send|{user}", token) if token else None
                found = tx.bearer_in_channel(user, arn, remembered=remembered)
                if found.membership is not None and found.remembered is None:
                    tx.insert_message_at_next_seq(
                        plain_message(arn, f"{user}{token}"), last_message=1.0
                    )
                    if token:
                        tx.remember_result(f"Send|{user}", token, "f", {"sent": True}, 1.0)
                return found.membership is not None, found.remembered is not None

            return unit

        def leave(tx: IamTx) -> None:
            tx.delete_membership(arn, users[2])

        outcomes = await _one_batch(
            store, [(send(users[0]), True), (send(users[1]), True), (leave, False),
                    (send(users[2]), True), (send(users[3]), True)],
        )  # fmt: skip
        assert outcomes == [(True, False), (True, False), None, (False, False), (True, False)]
        # Four read ahead, then the two after the membership's DELETE again.
        assert [user for _, user in bearers] == [*users[:4], users[2], users[3]]

        bearers.clear()

        def remember(tx: IamTx) -> None:  # u4's token answered by another unit first
            tx.remember_result(f"Send|{users[4]}", "t", "f", {"sent": True}, 1.0)

        outcomes = await _one_batch(
            store, [(send(users[0], "a"), True), (remember, False), (send(users[4], "t"), True),
                    (send(users[1], "b"), True)],
        )  # fmt: skip
        assert outcomes == [(True, False), None, (True, True), (True, False)]
        # u4's read ahead probed its token before it was remembered: it reads again; the
        # others keep theirs.
        assert [user for _, user in bearers] == [users[0], users[4], users[1], users[4]]

        bearers.clear()
        # One send twice with its token (a client's retry): neither is read ahead, and the
        # second answers what the first remembered.
        outcomes = await _one_batch(
            store, [(send(users[3], "r"), True), (send(users[3], "r"), True),
                    (send(users[1], "c"), True), (send(users[0], "d"), True)],
        )  # fmt: skip
        assert outcomes == [(True, False), (True, True), (True, False), (True, False)]
        assert [user for _, user in bearers] == [users[1], users[0], users[3], users[3]]
    finally:
        await store.close()


async def test_callbacks_read_ahead_until_their_invocation_or_message_may_have_changed(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flow callback's first read (its invocation, channel and message) is made ahead of its
    batch like a send's bearer statement. Ending an invocation drops only that invocation's
    read; a settle keeps the sends' reads; deleting a message drops them all."""
    from bellwire.records.flows import FlowInvocation
    from bellwire.store.sql.channels import BEARER_IN_CHANNEL
    from bellwire.store.sql.flows import FOR_CALLBACK

    reads = _queued(monkeypatch, {BEARER_IN_CHANNEL: "bearer", FOR_CALLBACK: "callback"})
    arn = "arn:app/channel/c"
    users = ["arn:app/user/u0", "arn:app/user/u1"]
    ids = [f"cb{i}" for i in range(9)]
    store = PostgresStore(url, writers=1, max_batch=64)
    try:

        def setup(tx: IamTx) -> None:
            _members(tx, arn, users)
            for callback_id in ids:
                tx.insert_message_at_next_seq(plain_message(arn, callback_id), last_message=None)
                tx.insert_invocation(
                    FlowInvocation(
                        callback_id, arn, callback_id, "CREATE", "arn:f", {}, {}, "PENDING", 1.0
                    )
                )

        await store.write(setup)

        def settle(callback_id: str) -> Any:
            def unit(tx: IamTx) -> tuple[str, bool]:
                found = tx.invocation_for_callback(callback_id)
                assert found is not None
                if found.invocation.state == "PENDING" and found.message_stored:
                    tx.end_invocation(callback_id, "SENT", 2.0)
                    seq = tx.next_seq(arn, last_message=2.0)
                    tx.settle_message(
                        arn, callback_id, seq=seq, status="SENT", content="hi", metadata=None,
                        attributes=None, content_type=None, push=None, now=2.0, edited=False,
                    )  # fmt: skip
                return found.invocation.state, found.message_stored

            return unit

        def fall_back(callback_id: str) -> Any:
            return lambda tx: tx.end_invocation(callback_id, "FAILED", 2.0, detail="timed out")

        def send(user: str) -> Any:
            return lambda tx: tx.bearer_in_channel(user, arn).membership is not None

        def delete(callback_id: str) -> Any:
            return lambda tx: tx.delete_message(arn, callback_id)

        pending = ("PENDING", True)
        outcomes = await _one_batch(
            store, [(settle("cb0"), True), (fall_back("cb1"), False), (settle("cb1"), True),
                    (send(users[0]), True), (settle("cb2"), True), (send(users[1]), True)],
        )  # fmt: skip
        # cb1 was ended after its read ahead: it reads again and sees FAILED; the settles kept
        # the others' reads.
        assert outcomes == [pending, None, ("FAILED", True), True, pending, True]
        assert reads == [
            ("callback", "cb0"), ("callback", "cb1"), ("bearer", users[0]), ("callback", "cb2"),
            ("bearer", users[1]), ("callback", "cb1"),
        ]  # fmt: skip

        reads.clear()
        outcomes = await _one_batch(
            store, [(settle("cb3"), True), (delete("cb4"), False), (settle("cb4"), True),
                    (settle("cb5"), True)],
        )  # fmt: skip
        # A deleted message: every read after it is made again.
        assert outcomes == [pending, None, ("PENDING", False), pending]
        assert reads == [
            ("callback", "cb3"), ("callback", "cb4"), ("callback", "cb5"),
            ("callback", "cb4"), ("callback", "cb5"),
        ]  # fmt: skip

        reads.clear()
        # One callback twice (a processor's retry): neither is read ahead, and the second
        # sees the first's ending.
        outcomes = await _one_batch(
            store, [(settle("cb6"), True), (settle("cb6"), True), (settle("cb7"), True),
                    (settle("cb8"), True)],
        )  # fmt: skip
        assert outcomes == [pending, ("SENT", True), pending, pending]
        assert reads == [
            ("callback", "cb7"), ("callback", "cb8"), ("callback", "cb6"), ("callback", "cb6"),
        ]  # fmt: skip
        seqs = await store.read(lambda tx: tx.channel_positions([arn]))
        assert seqs == {arn: len(ids) + 7}  # a number for each message, then for each settle
    finally:
        await store.close()


def _pending(callback_id: str) -> Any:
    from bellwire.records.flows import FlowInvocation

    return FlowInvocation(
        callback_id, "arn:app/channel/c", callback_id, "CREATE", "arn:f", {}, {}, "PENDING", 1.0
    )


async def test_an_invocation_ended_by_another_node_after_a_unit_read_it_is_not_ended_again(
    url: str,
) -> None:
    """A callback read its invocation PENDING; before it ends it, another node's fallback ends
    it FAILED and commits. The callback's ending updates nothing, and its batch runs again: it
    then reads FAILED, and the invocation stays FAILED (the message is not both)."""
    node_a = PostgresStore(url, writers=1)
    node_b = PostgresStore(url, writers=1)
    read_pending, go_on = threading.Event(), threading.Event()

    def callback(tx: IamTx) -> str:
        found = tx.invocation_for_callback("cb")
        assert found is not None
        if found.invocation.state != "PENDING":
            return found.invocation.state
        read_pending.set()
        go_on.wait(5)
        tx.end_invocation("cb", "SENT", 2.0, fingerprint="f")
        return "ended it"

    try:
        await node_a.write(lambda tx: tx.insert_invocation(_pending("cb")))
        answer = asyncio.ensure_future(node_a.write(callback, ahead=True))
        assert await asyncio.to_thread(read_pending.wait, 5)
        await node_b.write(lambda tx: tx.end_invocation("cb", "FAILED", 2.0, detail="timed out"))
        go_on.set()
        assert await answer == "FAILED"
        ended = await node_a.read(lambda tx: tx.invocation("cb"))
        assert ended is not None and (ended.state, ended.fingerprint) == ("FAILED", None)
    finally:
        await node_a.close()
        await node_b.close()


async def test_two_nodes_claiming_invocations_at_once_take_each_once(url: str) -> None:
    """Node A claims the free invocations and holds its transaction open; node B's claim read
    them free too and waits for A's rows. Once A commits, B finds them claimed and takes none."""
    node_a = PostgresStore(url, writers=1)
    node_b = PostgresStore(url, writers=1)
    claimed, go_on = threading.Event(), threading.Event()

    def claim_and_wait(tx: IamTx) -> list[str]:
        taken = tx.claim_invocations("a", 100.0, 100.0, 10.0, 130.0, 10)
        claimed.set()
        go_on.wait(5)
        return [i.callback_id for i in taken]

    try:
        await node_a.write(lambda tx: [tx.insert_invocation(_pending(f"cb{i}")) for i in range(4)])
        first = asyncio.ensure_future(node_a.write(claim_and_wait))
        assert await asyncio.to_thread(claimed.wait, 5)
        second = asyncio.ensure_future(
            node_b.write(lambda tx: tx.claim_invocations("b", 100.0, 100.0, 10.0, 130.0, 10))
        )
        await asyncio.sleep(0.3)  # B is waiting for A's rows by now
        go_on.set()
        assert sorted(await first) == ["cb0", "cb1", "cb2", "cb3"]
        assert await second == []
    finally:
        await node_a.close()
        await node_b.close()


async def test_a_unit_running_alone_that_ends_an_ended_invocation_is_a_conflict(
    url: str,
) -> None:
    """Alone (after a conflict: no predictions) the ending's answer is waited for, and an
    invocation that is not PENDING any more makes the unit a conflict, to be run again."""
    from bellwire.store.postgres import _EndedMeanwhile, _Order, _PgTx

    store = PostgresStore(url, writers=1)
    try:
        await store.write(lambda tx: tx.insert_invocation(_pending("open")))
        await store.write(lambda tx: tx.insert_invocation(_pending("done")))
        await store.write(lambda tx: tx.end_invocation("done", "SENT", 2.0))
    finally:
        await store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = PipelineCursor(Pipeline(conn))
        tx = _PgTx(cursor, _Order(), predicting=False)
        cursor.execute("BEGIN")
        tx.end_invocation("open", "DENIED", 3.0, fingerprint="f")
        with pytest.raises(_EndedMeanwhile):
            tx.end_invocation("done", "FAILED", 3.0)
        cursor.execute("ROLLBACK")
        cursor.sync()


# --- the writers' pipeline -------------------------------------------------------------------


def test_placeholders_are_numbered_in_order() -> None:
    from bellwire.store.pipeline import placeholders

    assert placeholders("SELECT 1") == "SELECT 1"
    assert placeholders("UPDATE t SET a = ? WHERE b = ? AND c = ?") == (
        "UPDATE t SET a = $1 WHERE b = $2 AND c = $3"
    )


@pytest.fixture
def cursor(url: str) -> Iterator[PipelineCursor]:
    """A writer's pipeline and its cursor on a connection of their own."""
    with psycopg.connect(url, autocommit=True) as conn:
        yield PipelineCursor(Pipeline(conn))


def test_a_failed_statement_raises_its_own_error_and_the_rest_of_its_stretch_is_skipped(
    cursor: PipelineCursor,
) -> None:
    cursor.execute("CREATE TEMPORARY TABLE t (k TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION)")
    cursor.execute("INSERT INTO t VALUES (?, ?, ?)", ("a", 2**40, 0.5))
    cursor.execute("SELECT k, n, x, ? FROM t", (None,))
    assert cursor.fetchall() == [("a", 2**40, 0.5, None)]  # psycopg's own types
    cursor.execute("INSERT INTO t VALUES (?, ?, ?)", ("a", 1, 1.0))  # a duplicate key
    cursor.execute("INSERT INTO t VALUES (?, ?, ?)", ("b", 1, 1.0))  # skipped
    with pytest.raises(psycopg.errors.UniqueViolation):
        cursor.fetchall()
    cursor.execute("SELECT count(*) FROM t")
    assert cursor.fetchone() == (1,)  # outside a transaction: the pipeline goes on
    # A statement that cannot even be parsed raises the parse's own error, not the
    # "skipped" of the execution queued behind it.
    cursor.execute("SELECT k FROM no_such_table WHERE k = ?", ("a",))
    with pytest.raises(psycopg.errors.UndefinedTable):
        cursor.fetchall()
    cursor.execute("SELECT count(*) FROM t")
    assert cursor.fetchone() == (1,)
    with pytest.raises(psycopg.ProgrammingError):
        cursor.execute("SELECT ?", ())


def test_a_read_ahead_is_answered_alone_and_an_error_nobody_took_is_raised_by_the_next_sync(
    cursor: PipelineCursor,
) -> None:
    pipe = cursor.pipe
    cursor.read_ahead("SELECT 1 + ?", (1,))
    cursor.read_ahead("SELECT 1 / ?", (0,))
    cursor.read_ahead("SELECT 2 + ?", (1,))
    cursor.taking = True
    cursor.execute("SELECT 1 + ?", (1,))
    assert cursor.fetchone() == (2,)
    assert pipe.pending  # the stretches after its own are not read yet
    cursor.execute("SELECT 1 / ?", (0,))
    with pytest.raises(psycopg.errors.DivisionByZero):
        cursor.fetchone()
    cursor.execute("SELECT 2 + ?", (1,))
    assert cursor.fetchone() == (3,)
    cursor.execute("SELECT ?", (4,))  # not read ahead: queued and answered as usual
    assert cursor.fetchone() == (4,)
    # Reads ahead that nobody takes are answered all the same; an error among them is
    # not lost: the next answer raises it.
    cursor.read_ahead("SELECT 1 / ?", (0,))
    cursor.execute("SELECT ?", (5,))
    with pytest.raises(psycopg.errors.DivisionByZero):
        cursor.fetchone()
    cursor.execute("SELECT ?", (6,))
    assert cursor.fetchone() == (6,)
    assert not pipe.pending


def test_statements_parsed_beyond_the_limit_are_deallocated_oldest_first(
    cursor: PipelineCursor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bellwire.store import pipeline

    monkeypatch.setattr(pipeline, "_PREPARED_MAX", 4)  # read at each new statement
    for n in range(10):
        cursor.execute(f"SELECT {n} + ?", (1,))
        assert cursor.fetchone() == (n + 1,)
    cursor.execute("SELECT count(*) FROM pg_prepared_statements")
    assert cursor.fetchone() == (4,)
    cursor.execute("SELECT 9 + ?", (1,))  # still parsed: bound by its name again
    assert cursor.fetchone() == (10,)


def test_a_libpq_without_pipeline_mode_is_refused_at_start(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bellwire.store.base import StoreUnavailable

    monkeypatch.setattr(psycopg.Pipeline, "is_supported", classmethod(lambda cls: False))
    with pytest.raises(StoreUnavailable, match="libpq 14 or newer"):
        PostgresStore(url)


def _plan(conn: psycopg.Connection[Any], sql: str, *params: object) -> str:
    """EXPLAIN of one of the store's statements (``?`` placeholders)."""
    return "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql.replace("?", "%s"), params))


async def _purged(store: PostgresStore, url: str, table: str, column: str) -> tuple[Any, ...]:
    """Purge until nothing is left: the writes it took, what ``table`` keeps (rows per
    ``column``) and how many purges remain."""
    writes = 0
    while await store.write(lambda tx: tx.purge_deleted_messages(500)):
        writes += 1
    with psycopg.connect(url, autocommit=True) as conn:
        counts = dict(conn.execute(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}"))
        row = conn.execute(
            "SELECT (SELECT COUNT(*) FROM channel_purges) + (SELECT COUNT(*) FROM sub_channel_purges)"
        ).fetchone()
    return writes, counts, row[0] if row else None


DOOMED, OTHER = channel("arn:app/channel/doomed"), channel("arn:app/channel/other")


def _doomed_and_other(put: Callable[[IamTx, str, int], None]) -> Callable[[IamTx], None]:
    """A unit that makes the channels ``doomed``, with 20,000 of what ``put`` adds (given the
    channel and a count), and ``other``, with 10."""

    def fill(tx: IamTx) -> None:
        tx.insert_app_instance(AppInstance("arn:app", "app", None, 1.0, 1.0))
        for c, count in ((DOOMED, 20_000), (OTHER, 10)):
            tx.insert_channel(c)
            for i in range(count):
                put(tx, c.arn, i)

    return fill


async def test_a_purge_reads_a_range_of_the_channels_numbers_whatever_the_statistics(
    url: str,
) -> None:
    # Read by its last message id (ORDER BY ... OFFSET), a purge batch was planned as a scan
    # and sort of the whole channel while the statistics had not yet seen its rows.
    from bellwire.store.sql.upkeep import PURGE_MESSAGES

    store = PostgresStore(url, writers=1, max_batch=8)

    def put(tx: IamTx, channel_arn: str, i: int) -> None:
        tx.insert_message_at_next_seq(plain_message(channel_arn, f"m{i:06d}"), last_message=None)

    try:
        await store.write(_doomed_and_other(put))
        await store.write(lambda tx: tx.delete_channel(DOOMED.arn))
        with psycopg.connect(url, autocommit=True) as conn:
            # Whatever the statistics say now, the batch's range is one of the (channel, seq)
            # index: no plan reads the channel's other rows, or sorts them.
            plan = _plan(conn, PURGE_MESSAGES, DOOMED.arn, 0, 500, DOOMED.arn)
            assert "messages_by_seq" in plan and "Sort" not in plan, plan
            assert "Seq Scan" not in plan, plan
        assert await _purged(store, url, "messages", "channel_arn") == (40, {OTHER.arn: 10}, 0)
    finally:
        await store.close()


async def test_a_sub_channel_purge_reads_its_index_whatever_the_statistics(url: str) -> None:
    # A deleted sub-channel's messages lie among its channel's others: each purge write finds
    # its next one at the edge of the (channel, sub-channel, seq) index and deletes a range of
    # it, which no estimate turns into a scan of the channel or a sort.
    import dataclasses

    from bellwire.records.chime import SubChannel
    from bellwire.store.sql.upkeep import NEXT_IN_SUB_CHANNEL, PURGE_SUB_CHANNEL, SPAN

    store = PostgresStore(url, writers=1, max_batch=8)
    arn = "arn:app/channel/elastic"

    def fill(tx: IamTx) -> None:
        tx.insert_app_instance(AppInstance("arn:app", "app", None, 1.0, 1.0))
        tx.insert_channel(channel(arn))
        for ordinal, sub in enumerate(("doomed", "kept")):
            tx.insert_sub_channel(SubChannel(arn, sub, ordinal, 1, 0, 1.0))
        for i in range(20_000):
            m = plain_message(arn, f"m{i:06d}")
            m = dataclasses.replace(m, sub_channel_id="doomed" if i % 4 else "kept")
            tx.insert_message_at_next_seq(m, last_message=None)

    try:
        await store.write(fill)
        await store.write(lambda tx: tx.delete_sub_channel(arn, "doomed"))
        with psycopg.connect(url, autocommit=True) as conn:
            for analyzed in (False, True):
                if analyzed:
                    conn.execute("ANALYZE messages")
                # The next message, and the batch: each a range of the numbers on either
                # index. The first stops at the first entry it finds (MIN(seq) was planned, on
                # these statistics, as an aggregate of the whole window).
                found = _plan(conn, NEXT_IN_SUB_CHANNEL, arn, "doomed", 0, SPAN * 500)
                assert found.startswith("Limit") and "Aggregate" not in found, found
                batch = _plan(conn, PURGE_SUB_CHANNEL, arn, "doomed", 0, 500, arn, "doomed")
                for read in (found, batch):
                    assert "Seq Scan" not in read and "Sort" not in read, read
                    bounded = [line for line in read.splitlines() if "Index Cond" in line]
                    assert any("seq <= " in line for line in bounded), read
        # 15,000 messages in three of each four numbers.
        assert await _purged(store, url, "messages", "sub_channel_id") == (40, {"kept": 5_000}, 0)
    finally:
        await store.close()


async def test_a_memberships_purge_walks_the_channels_key_whatever_the_statistics(
    url: str,
) -> None:
    # Memberships have no number: each batch's last member is found one probe of the
    # (channel, member) key at a time. Its end read with ORDER BY ... OFFSET was planned, on
    # statistics that had not seen the rows, as a bitmap scan and a sort of the whole channel.
    from bellwire.records.chime import Membership
    from bellwire.store.sql.upkeep import WALK_MEMBERS

    store = PostgresStore(url, writers=1, max_batch=8)

    def put(tx: IamTx, channel_arn: str, i: int) -> None:
        member = f"arn:app/user/u{i:06d}"
        tx.insert_membership(Membership(channel_arn, member, "DEFAULT", "x", 1.0, 1.0))

    try:
        await store.write(_doomed_and_other(put))
        await store.write(lambda tx: tx.delete_channel(DOOMED.arn))
        with psycopg.connect(url, autocommit=True) as conn:
            for analyzed in (False, True):
                if analyzed:
                    conn.execute("ANALYZE memberships")
                plan = _plan(conn, WALK_MEMBERS, DOOMED.arn, "", DOOMED.arn, 500)
                for refused in ("Sort", "Bitmap", "Seq Scan"):
                    assert refused not in plan, plan
        # Forty batches of 500; the last finds none left and ends the purge.
        assert await _purged(store, url, "memberships", "channel_arn") == (41, {OTHER.arn: 10}, 0)
    finally:
        await store.close()
