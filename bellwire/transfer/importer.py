"""``bellwire import``: records from an export file (or a live endpoint) into a data dir.

Records are applied in batches, one transaction each: a batch is on disk before the next
begins, so whatever stops an import (a bad line, a network error, Ctrl-C) leaves every record
before it imported, and running the same import again skips those by key and goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from bellwire.transfer import records as fmt
from bellwire.transfer.database import ConstraintError, PgTarget, Target
from bellwire.transfer.loader import IMPORTED, Loader, LoadError
from bellwire.transfer.progress import Progress

BATCH = 500

# (where the record comes from, to name it in errors; the record; how many input bytes it took)
Item = tuple[str, Any, int]


class ImportFailed(Exception):
    """The import stopped at a record; the message names it (file and line, or source)."""


def read_file(handle: BinaryIO, name: str) -> Iterator[Item]:
    """The records of an export file, after checking its header line."""
    header_seen = False
    for number, raw in enumerate(handle, 1):
        where = f"{name}:{number}"
        text = raw.strip()
        if not text:
            continue
        try:
            record = json.loads(text.decode("utf-8"))
        except UnicodeDecodeError:
            raise ImportFailed(f"{where}: the line is not UTF-8 text") from None
        except ValueError as exc:
            raise ImportFailed(f"{where}: the line is not valid JSON ({exc})") from None
        if not header_seen:
            try:
                fmt.check_header(record)
            except fmt.FormatError as exc:
                raise ImportFailed(f"{where}: {exc}") from None
            header_seen = True
            yield where, None, len(raw)  # counts the bytes; no record
            continue
        yield where, record, len(raw)
    if not header_seen:
        raise ImportFailed(f"{name}: the file is empty (no header line)")


def load(
    target: Target | PgTarget,
    items: Iterable[Item],
    progress: Progress,
    *,
    batch: int = BATCH,
    loader: Loader | None = None,
) -> Counter[tuple[str, str]]:
    """Apply every item to ``target``; returns (record type, outcome) counts."""
    loader = loader or Loader(target.tx)
    pending = 0
    source = iter(items)
    target.begin()
    try:
        while True:
            try:
                where, record, nbytes = next(source)
            except StopIteration:
                break
            except BaseException:
                # The source failed between records: everything applied so far is whole.
                target.commit()
                raise
            if record is None:
                progress.update(nbytes=nbytes)
                continue
            try:
                outcome = loader.apply(fmt.check(record))
            except (fmt.FormatError, LoadError) as exc:
                target.commit()  # the checks run before any write: the batch so far is whole
                raise ImportFailed(f"{where}: {exc}") from None
            except ConstraintError as exc:
                target.rollback()  # a record may be half-written: drop its batch, a re-run redoes it
                raise ImportFailed(
                    f"{where}: {record['type']} conflicts with what the target holds ({exc})"
                ) from None
            progress.update(
                records=1, new=int(outcome == IMPORTED), nbytes=nbytes, note=record["type"]
            )
            pending += 1
            if pending >= batch:
                target.commit()
                target.begin()
                pending = 0
        target.commit()
    finally:
        target.rollback()  # only an unexpected failure inside a record leaves one open
    return loader.counts


def summary(counts: Counter[tuple[str, str]]) -> str:
    """One line per record type: how many were imported, already present, skipped."""
    lines = []
    for type_ in fmt.TYPES:
        row = {outcome: n for (t, outcome), n in counts.items() if t == type_}
        if row:
            parts = [f"{n:,} {outcome}" for outcome, n in sorted(row.items())]
            lines.append(f"  {type_}: " + ", ".join(parts))
    return "\n".join(lines) if lines else "  nothing to import"
