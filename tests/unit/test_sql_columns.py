"""JSON columns: values kept for the read that follows their write, and processors parsed once."""

from __future__ import annotations

import json

from bellwire.store.sql.common import JustWritten, flow_processor_column, flow_processor_text


def test_the_read_after_a_write_gets_the_written_value_once_then_parses() -> None:
    columns = JustWritten(8)
    value = {"content": "héllo", "created": 1700000000.25, "attributes": {"k": {"S": ["a"]}}}
    text = columns.dump(value)
    assert text == json.dumps(value, separators=(",", ":"), sort_keys=True)
    assert columns.load(text) is value
    again = columns.load(text)
    assert again == value and again is not value


def test_past_its_size_the_oldest_value_is_parsed_again() -> None:
    columns = JustWritten(2)
    values = [{"n": n} for n in range(3)]
    texts = [columns.dump(v) for v in values]
    first = columns.load(texts[0])
    assert first == values[0] and first is not values[0]
    assert columns.load(texts[1]) is values[1]
    assert columns.load(texts[2]) is values[2]


def test_a_text_never_written_here_is_parsed() -> None:
    assert JustWritten(2).load('{"a":[1,2]}') == {"a": [1, 2]}


def test_a_processor_text_is_parsed_once() -> None:
    text = '{"ExecutionOrder":1,"FallbackAction":"ABORT","Name":"p"}'
    assert flow_processor_column(text) is flow_processor_column("".join(list(text)))
    assert flow_processor_column(text) == json.loads(text)


def test_a_processor_is_dumped_once_by_identity() -> None:
    processor = {"Name": "p", "Configuration": {"Lambda": {"ResourceArn": "arn"}}}
    text = flow_processor_text(processor)
    assert text == json.dumps(processor, separators=(",", ":"), sort_keys=True)
    equal = {"Name": "p", "Configuration": {"Lambda": {"ResourceArn": "arn"}}}
    assert flow_processor_text(equal) == text
    # Kept by identity: another object is dumped on its own, whatever an earlier one held.
    other = {"Name": "q"}
    assert flow_processor_text(other) == '{"Name":"q"}'
    assert flow_processor_text(processor) is text
