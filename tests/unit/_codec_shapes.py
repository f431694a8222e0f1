"""Valid values for botocore shapes: one deterministic filler and hypothesis strategies.

Both honour the model's min/max/pattern/enum so that botocore's own serializer and parser can act
as the oracle for bellwire's codec. Strings deliberately carry ``/``, ``:``, spaces, ``+``, ``%``,
``&`` and non-ASCII text where the shape allows them, to exercise percent-encoding.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from bellwire.aws.model import model_pattern


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    compiled = model_pattern(pattern)
    assert compiled is not None, f"the model's pattern {pattern!r} does not compile"
    return compiled


WHEN = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)

# Tried in order; the first one that satisfies the shape's pattern and length wins.
_CANDIDATES = (
    "arn:aws:chime:us-east-1:123456789012:app-instance/abc-1/channel/ch 1:x+y",
    "arn:aws:lambda:us-east-1:123456789012:function:my-fn",
    "arn:aws:lex:us-east-1:123456789012:bot-alias/ABCDEFGHIJ/KLMNOPQRST",
    "Welcome_Intent",
    "user-1@example.com",
    "tok-1_A",
    "Héllo wörld / 🎉 a+b%20&c=d?#",
)
# Header values must survive HTTP: printable ASCII only.
_HEADER_ARN = "arn:aws:chime:us-east-1:123456789012:app-instance/abc-1/user/u-1"


def _string(shape: Any, header: bool) -> str:
    if shape.enum:
        return str(shape.enum[-1])
    meta = shape.metadata
    lo: int = meta.get("min", 0)
    hi: int = meta.get("max", 10_000)
    pattern = _compile_pattern(meta["pattern"]) if "pattern" in meta else None
    candidates = (_HEADER_ARN,) if header else _CANDIDATES
    for text in (*candidates, "x" * max(lo, 1)):
        options: tuple[str, ...] = (text, (text * lo)[:lo]) if len(text) < lo else (text,)
        for value in options:
            if lo <= len(value) <= hi and (pattern is None or pattern.fullmatch(value)):
                return value
    raise AssertionError(f"no candidate fits {shape.name}: {meta}")


def fill(shape: Any, *, minimal: bool = False, header: bool = False, output: bool = False) -> Any:
    """A valid value for *shape*: every member (or only the required ones when *minimal*)."""
    t = shape.type_name
    meta = shape.metadata
    if t == "string":
        return _string(shape, header)
    if t in ("integer", "long"):
        return int(meta.get("max", meta.get("min", 0) + 7))
    if t == "boolean":
        return True
    if t == "timestamp":
        return WHEN
    if t == "blob":
        return b"\x00\xffbytes"
    if t == "list":
        count = max(meta.get("min", 0), min(meta.get("max", 2), 2))
        return [fill(shape.member, minimal=minimal, output=output) for _ in range(count)]
    if t == "map":
        key = fill(shape.key)
        return {key: fill(shape.value, minimal=minimal, output=output)}
    if t == "structure":
        required = set(shape.required_members)
        return {
            name: fill(
                member,
                minimal=minimal,
                header=member.serialization.get("location") == "header",
                output=output,
            )
            for name, member in shape.members.items()
            if not minimal or name in required
        }
    raise AssertionError(f"unsupported shape type {t}")


_ONE_CLASS = re.compile(r"\[[^\]]{20,}\]\*")


def _generation_pattern(pattern: str) -> re.Pattern[str]:
    # hypothesis narrows its alphabet to ASCII under re.ASCII, so generate without the flag; the
    # codec's ASCII-only \d then needs spelling out (Unicode \S is a subset of ASCII \S).
    text = _compile_pattern(pattern).pattern.replace("\\d", "[0-9]")
    return re.compile(text, re.DOTALL)


def _no_surrogates(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _string_strategy(shape: Any, location: str | None) -> st.SearchStrategy[str]:
    if shape.enum:
        return st.sampled_from([str(v) for v in shape.enum])
    meta = shape.metadata
    lo, hi = meta.get("min", 0), meta.get("max", None)
    if location == "uri":
        lo = max(lo, 1)  # an empty label would be "//", which routes nowhere by design
    base: st.SearchStrategy[str]
    if location == "header":
        alphabet = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
        if "pattern" in meta:
            base = st.from_regex(
                _generation_pattern(meta["pattern"]), fullmatch=True, alphabet=alphabet
            )
        else:
            base = st.text(alphabet=alphabet, min_size=lo, max_size=lo + 30)
    elif _ONE_CLASS.fullmatch(meta.get("pattern", "")):
        # from_regex over the resource-name class (~1M code points) costs a second per example;
        # printable text filtered by the real pattern is equivalent here and fast.
        allowed = _compile_pattern(meta["pattern"])
        chars = st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"])
        base = st.text(chars, min_size=lo, max_size=lo + 30).filter(
            lambda s: allowed.fullmatch(s) is not None
        )
    elif "pattern" in meta:
        base = st.from_regex(_generation_pattern(meta["pattern"]), fullmatch=True)
    else:
        base = st.text(min_size=lo, max_size=lo + 30 if hi is None else min(hi, lo + 30))
    return base.filter(
        lambda s: lo <= len(s) <= (hi if hi is not None else 1 << 30) and _no_surrogates(s)
    )


_STRATEGIES: dict[tuple[int, str, str | None], st.SearchStrategy[Any]] = {}


def strategy(shape: Any, location: str | None = None) -> st.SearchStrategy[Any]:
    """Random valid values for *shape*; *location* narrows strings that travel outside JSON."""
    # Cached: hypothesis analyses every new strategy object, which dominated the run time.
    key = (id(shape._shape_resolver), shape.name, location)
    cached = _STRATEGIES.get(key)
    if cached is None:
        cached = _STRATEGIES[key] = _build(shape, location)
    return cached


def _build(shape: Any, location: str | None) -> st.SearchStrategy[Any]:
    t = shape.type_name
    meta = shape.metadata
    if t == "string":
        return _string_strategy(shape, location)
    if t in ("integer", "long"):
        bits = 31 if t == "integer" else 63
        return st.integers(meta.get("min", -(2**bits)), meta.get("max", 2**bits - 1))
    if t == "boolean":
        return st.booleans()
    if t == "timestamp":
        # botocore parses epoch floats exactly to the microsecond in this range.
        return st.datetimes(
            min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
        )
    if t == "blob":
        return st.binary(max_size=20)
    if t == "list":
        lo = meta.get("min", 0)
        hi = min(meta.get("max", lo + 3), lo + 3)
        return st.lists(strategy(shape.member), min_size=lo, max_size=hi)
    if t == "map":
        return st.dictionaries(strategy(shape.key), strategy(shape.value), max_size=3)
    if t == "structure":
        required = set(shape.required_members)
        members = {
            name: strategy(member, member.serialization.get("location"))
            for name, member in shape.members.items()
        }
        return st.fixed_dictionaries(
            {k: v for k, v in members.items() if k in required},
            optional={k: v for k, v in members.items() if k not in required},
        )
    raise AssertionError(f"unsupported shape type {t}")
