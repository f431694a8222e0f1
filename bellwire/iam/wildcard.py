"""IAM-style glob matching: ``*`` (any run of characters, including none) and ``?`` (one character).

Nothing else is special: ``[``, ``]``, ``.``, ``\\`` and friends are literal, so a policy cannot
smuggle a regular expression (or an ``fnmatch`` character class) into a pattern. The matcher never
builds a regex; it splits the pattern on ``*`` into chunks and places them with ``str.find`` /
``str.startswith``, which is linear for the common case (no ``?``) and needs no backtracking
because leftmost placement of each middle chunk is always optimal for this grammar.

A pattern is compiled once (at policy parse time when it has no policy variables) and then
matched many times.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Glob", "Wild", "compile_glob"]


class Wild(enum.Enum):
    """A wildcard token, kept apart from literal text so that a literal ``*`` (from ``${*}`` or a
    substituted variable) can never turn into a wildcard."""

    STAR = "*"
    ANY = "?"


@dataclass(frozen=True, slots=True)
class _Chunk:
    """A run of the pattern between two ``*``: literal pieces at fixed offsets plus ``?`` holes."""

    length: int
    # (offset, text) for each maximal literal run; holes are the gaps between them.
    pieces: tuple[tuple[int, str], ...]
    # The chunk as one literal string when it has no ``?`` hole (the fast path), else None.
    plain: str | None

    def at(self, s: str, i: int) -> bool:
        if i < 0 or i + self.length > len(s):
            return False
        return all(s.startswith(text, i + off) for off, text in self.pieces)

    def find(self, s: str, start: int, end: int) -> int:
        """Leftmost ``i`` in ``[start, end - length]`` where the chunk matches, or -1."""
        plain = self.plain
        if plain is not None:
            return s.find(plain, start, end)
        last = end - self.length
        i = start
        while i <= last:
            if self.at(s, i):
                return i
            i += 1
        return -1


def _chunk(parts: list[str | Wild]) -> _Chunk:
    pieces: list[tuple[int, str]] = []
    offset = 0
    run: list[str] = []
    run_start = 0
    for part in parts:
        if part is Wild.ANY:
            if run:
                pieces.append((run_start, "".join(run)))
                run = []
            offset += 1
            run_start = offset
        else:
            assert isinstance(part, str)
            if not run:
                run_start = offset
            run.append(part)
            offset += len(part)
    if run:
        pieces.append((run_start, "".join(run)))
    nonempty = tuple(p for p in pieces if p[1])
    if not nonempty and offset == 0:
        plain: str | None = ""
    elif len(nonempty) == 1 and nonempty[0][0] == 0 and len(nonempty[0][1]) == offset:
        plain = nonempty[0][1]
    else:
        plain = None
    return _Chunk(offset, nonempty, plain)


@dataclass(frozen=True, slots=True)
class Glob:
    """A compiled pattern. Build with :func:`compile_glob` or :meth:`Glob.from_parts`."""

    ignore_case: bool
    # No ``*`` at all: the whole pattern is one chunk that must span the subject exactly.
    exact: _Chunk | None
    head: _Chunk
    middle: tuple[_Chunk, ...]
    tail: _Chunk

    @classmethod
    def from_parts(cls, parts: Iterable[str | Wild], *, ignore_case: bool = False) -> Glob:
        """Compile a token sequence: ``str`` items are literal text, :class:`Wild` are wildcards."""
        chunks: list[list[str | Wild]] = [[]]
        for part in parts:
            if part is Wild.STAR:
                chunks.append([])
            elif isinstance(part, str):
                if part:
                    chunks[-1].append(part.lower() if ignore_case else part)
            else:
                chunks[-1].append(part)
        compiled = [_chunk(c) for c in chunks]
        if len(compiled) == 1:
            return cls(ignore_case, compiled[0], compiled[0], (), compiled[0])
        return cls(ignore_case, None, compiled[0], tuple(compiled[1:-1]), compiled[-1])

    @property
    def matches_everything(self) -> bool:
        return (
            self.exact is None
            and self.head.length == 0
            and self.tail.length == 0
            and all(c.length == 0 for c in self.middle)
        )

    def match(self, s: str) -> bool:
        if self.ignore_case:
            s = s.lower()
        if self.exact is not None:
            return self.exact.length == len(s) and self.exact.at(s, 0)
        head, tail = self.head, self.tail
        # Head and tail are anchored; they must fit without overlapping.
        if head.length + tail.length > len(s):
            return False
        if not head.at(s, 0) or not tail.at(s, len(s) - tail.length):
            return False
        pos, end = head.length, len(s) - tail.length
        for chunk in self.middle:
            found = chunk.find(s, pos, end)
            if found < 0:
                return False
            pos = found + chunk.length
        return True


def _tokens(pattern: str) -> Iterable[str | Wild]:
    for ch in pattern:
        if ch == "*":
            yield Wild.STAR
        elif ch == "?":
            yield Wild.ANY
        else:
            yield ch


def compile_glob(pattern: str, *, ignore_case: bool = False) -> Glob:
    """Compile ``pattern``, in which ``*`` and ``?`` are wildcards and every other char is literal."""
    return Glob.from_parts(_tokens(pattern), ignore_case=ignore_case)
