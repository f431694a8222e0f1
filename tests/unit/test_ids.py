import re
import uuid

from bellwire import ids


def test_uuid_string_is_a_version_4_uuid() -> None:
    seen = {ids.uuid_string() for _ in range(2000)}
    assert len(seen) == 2000
    for text in list(seen)[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_hex_id_has_the_asked_length_and_varies() -> None:
    values = {ids.hex_id(32) for _ in range(1000)}
    assert len(values) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in values)
    assert re.fullmatch(r"[0-9a-f]{16}", ids.hex_id(8))
    # Leading zero bytes keep their place: the length never shrinks.
    assert all(len(ids.hex_id(1)) == 2 for _ in range(500))


def test_ordered_hex_id_sorts_by_time_and_stays_unique() -> None:
    early = [ids.ordered_hex_id(32, 1_700_000_000.001) for _ in range(500)]
    late = ids.ordered_hex_id(32, 1_700_000_000.002)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in [*early, late])
    assert len(set(early)) == 500
    assert max(early) < late
    assert early[0][:12] == f"{1_700_000_000_001:012x}"
