"""The batches a node queued leave as few documents as possible, in order, whole."""

from __future__ import annotations

import json

from bellwire.bus import wire
from bellwire.domain.delivery import CloseSessions, UserEvent

U = [UserEvent(f"arn:user/{i}", deleted=True) for i in range(10)]


def messages_of(documents: list[bytes]) -> list[list[object]]:
    return [list(wire.decode(d).messages) for d in documents]


def test_a_burst_of_batches_is_one_document_with_every_message_in_order() -> None:
    documents = wire.encode_batches("n1", [[U[0]], [U[1], U[2]], [U[3]]])
    assert len(documents) == 1
    assert wire.decode(documents[0]) == wire.Batch("n1", (U[0], U[1], U[2], U[3]))


def test_one_batch_encodes_as_before() -> None:
    batch = [U[0], CloseSessions("arn:user/1", 4003, "Replaced.", "s1")]
    assert wire.encode_batches("n1", [batch]) == [wire.encode("n1", batch)]
    assert wire.encode_batches("n1", []) == []


def test_documents_hold_whole_batches_up_to_the_limit() -> None:
    batches = [[U[0], U[1]], [U[2], U[3]], [U[4]], [U[5], U[6], U[7], U[8]], [U[9]]]
    documents = wire.encode_batches("n1", batches, limit=4)
    assert messages_of(documents) == [
        [U[0], U[1], U[2], U[3]],
        [U[4]],
        [U[5], U[6], U[7], U[8]],
        [U[9]],
    ]
    big = wire.encode_batches("n1", [[U[0]], U[1:7], [U[7]]], limit=4)
    assert messages_of(big) == [[U[0]], list(U[1:7]), [U[7]]]  # a big batch stays whole


def test_a_resync_is_a_document_of_its_own() -> None:
    documents = wire.encode_batches("n1", [[U[0]], [wire.RESYNC], [U[1]], [U[2]]])
    assert messages_of(documents) == [[U[0]], [wire.RESYNC], [U[1], U[2]]]
    assert json.loads(documents[1]) == {"v": 1, "node": "n1", "m": [{"t": "r"}]}
