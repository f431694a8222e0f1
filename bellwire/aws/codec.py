"""The model-driven rest-json codec for chime-sdk-messaging and chime-sdk-identity (sans-I/O).

Everything here is derived from botocore's bundled service models (:mod:`bellwire.aws.model`) and
compiled once per process into small plans, so the per-request work is dictionary lookups and
straight-line checks. The HTTP shell calls, in order::

    match = router.match(method, raw_path, raw_query)       # AwsError if nothing matches
    params = parse_request(match, raw_query, headers, body)  # BadRequest if the input is invalid
    status, headers, body = serialize_response(match.operation, output)
    status, headers, body = serialize_error(err, request_id)  # for any AwsError

Decisions a caller should know (see also the docstrings):

* Routing works on the raw, still percent-encoded path; each label segment is decoded on its own
  afterwards, because ARNs carry ``%2F`` inside one segment. Matching is exact: no trailing-slash,
  empty-segment or double-slash normalisation (SigV4 signs the path as sent, so "fixing" it would
  only move the confusion to a signature mismatch).
* An unknown path answers 404 ``UnknownOperationException`` and a known path with the wrong method
  405 ``MethodNotAllowedException`` (with an ``Allow`` header). They are not Chime model errors, so
  botocore raises a plain ``ClientError`` with that code, which cannot be mistaken for a
  ``NotFoundException`` about a resource.
* Both services define TagResource, UntagResource and ListTagsForResource on ``/tags`` with
  identical shapes; messaging's operations answer for both (the IAM action is ``chime:<Op>`` either
  way, the signing name being ``chime`` for both services).
* Unknown JSON members and unknown query parameters are ignored, as AWS does: newer SDKs may send
  members this model does not know yet. ``null`` for a structure member means "absent".
* Selectors (``?operation=``, ``?scope=``) are given at most once each, and only where the
  matched operation takes them: a repeated, conflicting or unknown selector is a BadRequest
  rather than a guess at which operation was meant (``operation=redact&operation=bogus`` must
  not redact).
* Query values are decoded per RFC 3986 (``+`` stays a plus; both SDKs send ``%20``). A scalar
  member given twice in the query is a BadRequest rather than a silent first-or-last pick.
* Header lookups are case-insensitive whatever mapping the shell passes.
* The body is read only when the operation has body members (otherwise it is ignored, like
  ``Content-Type``); an empty body means "no members". It must be a UTF-8 JSON object.
* Strings holding unpaired surrogates (``"\\ud800"`` in JSON) are rejected: they have no UTF-8
  form, so a stored one could only come back mangled.
* Validation reports every violation AWS-style (``N validation errors detected: Value 'x' at
  'Fields[0].Key' failed to satisfy constraint: ...``, the first ten listed), names non-body
  members' wire location, never echoes values of ``sensitive`` shapes and truncates long ones.
* Model patterns are compiled with DOTALL (so ``.*`` accepts newlines in metadata and titles rather
  than rejecting what AWS probably accepts) and ASCII (Java's ``\\s``/``\\d`` are ASCII-only). The
  resource-name class ``\\u10000-\\u10FFFF`` is Java notation for the supplementary planes, which
  Python would misread as ``\\u1000`` followed by ``0-\\u10FF``; it is translated so that names
  may contain emoji.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache, lru_cache
from typing import Any, ClassVar, Final
from urllib.parse import unquote_to_bytes

from bellwire import ids
from bellwire.aws.errors import AwsError, BadRequest
from bellwire.aws.model import model_pattern, service_models
from bellwire.compact_json import compact_unicode
from bellwire.frozen import quick_init

__all__ = [
    "Match",
    "MethodNotAllowed",
    "Operation",
    "Router",
    "UnknownOperation",
    "default_router",
    "parse_request",
    "serialize_error",
    "serialize_response",
]


# --- routing errors (not part of the Chime models) ------------------------------------------


class UnknownOperation(AwsError):
    """No operation has this method and path; AWS answers the same way for unknown URIs."""

    shape = code = "UnknownOperationException"
    status = 404


class MethodNotAllowed(AwsError):
    """The path exists, but not with this HTTP method."""

    shape = code = "MethodNotAllowedException"
    status = 405

    def __init__(self, message: str, allowed: Iterable[str]) -> None:
        super().__init__(message)
        self.allowed: tuple[str, ...] = tuple(sorted(allowed))


# --- validation messages ---------------------------------------------------------------------

_MAX_REPORTED: Final = 10  # a 100-element list of bad values must not become a 100-line message
_MAX_SHOWN: Final = 64


def _show(value: Any, sensitive: bool) -> str:
    if value is None:
        return "null"
    if sensitive:
        # Content, Metadata, names... are marked sensitive: never echo them (logs, proxies).
        return "'***'"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, str):
        text = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return "'" + text + "'"
    if isinstance(value, int | float):
        return f"'{value}'"
    return f"of JSON type {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _fail(errs: list[str], value: Any, path: str, sensitive: bool, constraint: str) -> None:
    errs.append(
        f"Value {_show(value, sensitive)} at '{path}' failed to satisfy constraint: {constraint}"
    )


def _raise_if(errs: list[str]) -> None:
    if not errs:
        return
    n = len(errs)
    shown = "; ".join(errs[:_MAX_REPORTED])
    more = f"; ... and {n - _MAX_REPORTED} more" if n > _MAX_REPORTED else ""
    raise BadRequest(f"{n} validation error{'s' if n != 1 else ''} detected: {shown}{more}")


# --- compiled shapes: input side -------------------------------------------------------------

_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_INT32: Final = (-(2**31), 2**31 - 1)
_INT64: Final = (-(2**63), 2**63 - 1)
_ISO_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _parse_iso8601(text: str) -> datetime | None:
    m = _ISO_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = m.groups()
    tz: timezone = UTC
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        value = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz
        )
    except ValueError:
        return None
    return value.astimezone(UTC)


def _from_epoch(value: float) -> datetime | None:
    try:
        # timedelta arithmetic instead of fromtimestamp: no platform limits, exact microseconds.
        return _EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):
        return None


class _Node:
    """One compiled shape: type checks, constraints and conversion in a single pass."""

    __slots__ = ("sensitive",)
    kind: ClassVar[str] = ""  # "a string", used in type-mismatch messages

    def __init__(self, sensitive: bool) -> None:
        self.sensitive = sensitive

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        raise NotImplementedError

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        """Parse a path label, query value or header value (*fmt* is the timestamp format)."""
        raise NotImplementedError

    def wrong_type(self, value: Any, path: str, errs: list[str]) -> None:
        errs.append(
            f"Value of JSON type {_json_type(value)} at '{path}' failed to satisfy constraint: "
            f"Member must be {self.kind}"
        )


class _String(_Node):
    __slots__ = ("enum", "enum_text", "max", "min", "pattern")
    kind = "a string"

    def __init__(
        self,
        sensitive: bool,
        min_len: int | None,
        max_len: int | None,
        pattern: re.Pattern[str] | None,
        enum: Sequence[str],
    ) -> None:
        super().__init__(sensitive)
        self.min = min_len
        self.max = max_len
        self.pattern = pattern
        self.enum = frozenset(enum)
        self.enum_text = "[" + ", ".join(enum) + "]"

    def check(self, value: str, path: str, errs: list[str]) -> str:
        if self.enum:
            if value not in self.enum:
                _fail(
                    errs,
                    value,
                    path,
                    self.sensitive,
                    f"Member must satisfy enum value set: {self.enum_text}",
                )
            return value
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                # json.loads turns "\ud800" into a lone surrogate; stored, it would break every
                # later response that carries it.
                _fail(errs, value, path, True, "Member must not contain unpaired surrogates")
                return value
        n = len(value)
        if self.min is not None and n < self.min:
            _fail(
                errs,
                value,
                path,
                self.sensitive,
                f"Member must have length greater than or equal to {self.min}",
            )
        if self.max is not None and n > self.max:
            _fail(
                errs,
                value,
                path,
                self.sensitive,
                f"Member must have length less than or equal to {self.max}",
            )
        if self.pattern is not None and self.pattern.fullmatch(value) is None:
            _fail(
                errs,
                value,
                path,
                self.sensitive,
                f"Member must satisfy regular expression pattern: {self.pattern.pattern}",
            )
        return value

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, str):
            self.wrong_type(value, path, errs)
            return None
        return self.check(value, path, errs)

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        return self.check(text, path, errs)


class _Integer(_Node):
    __slots__ = ("max", "min")
    kind = "an integer"

    def __init__(self, sensitive: bool, lo: int, hi: int) -> None:
        super().__init__(sensitive)
        self.min = lo
        self.max = hi

    def check(self, value: int, path: str, errs: list[str]) -> int:
        if value < self.min:
            _fail(
                errs,
                value,
                path,
                self.sensitive,
                f"Member must have value greater than or equal to {self.min}",
            )
        elif value > self.max:
            _fail(
                errs,
                value,
                path,
                self.sensitive,
                f"Member must have value less than or equal to {self.max}",
            )
        return value

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            self.wrong_type(value, path, errs)
            return None
        return self.check(value, path, errs)

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        # int() alone would also take " 5", "5_000" and non-ASCII digits.
        if len(text) > 40 or _INT_RE.fullmatch(text) is None:
            _fail(errs, text, path, self.sensitive, "Member must be an integer")
            return None
        return self.check(int(text), path, errs)


class _Boolean(_Node):
    __slots__ = ()
    kind = "a boolean"

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, bool):
            self.wrong_type(value, path, errs)
            return None
        return value

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        lowered = text.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        _fail(errs, text, path, self.sensitive, "Member must be a boolean (true or false)")
        return None


class _Timestamp(_Node):
    __slots__ = ("fmt",)
    kind = "a timestamp in epoch seconds"

    def __init__(self, sensitive: bool, fmt: str | None) -> None:
        super().__init__(sensitive)
        self.fmt = fmt  # an explicit timestampFormat trait beats the per-location default

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        fmt = self.fmt or "unixtimestamp"
        if fmt == "unixtimestamp":
            if isinstance(value, int | float) and not isinstance(value, bool):
                parsed = _from_epoch(value)
                if parsed is not None:
                    return parsed
                _fail(errs, value, path, self.sensitive, "Member must be a valid timestamp")
                return None
            self.wrong_type(value, path, errs)
            return None
        if not isinstance(value, str):
            self.wrong_type(value, path, errs)
            return None
        return self.from_text(value, path, errs, fmt)

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        fmt = self.fmt or fmt
        parsed: datetime | None = None
        if fmt == "iso8601":
            parsed = _parse_iso8601(text)
            expected = "an ISO-8601 timestamp such as 2024-01-02T03:04:05Z"
        elif fmt == "rfc822":
            try:
                parsed = parsedate_to_datetime(text).astimezone(UTC)
            except (TypeError, ValueError, IndexError):
                parsed = None
            expected = "an HTTP date such as Tue, 02 Jan 2024 03:04:05 GMT"
        else:
            try:
                parsed = _from_epoch(float(text)) if _looks_numeric(text) else None
            except ValueError:
                parsed = None
            expected = "a timestamp in epoch seconds"
        if parsed is None:
            _fail(errs, text, path, self.sensitive, f"Member must be {expected}")
        return parsed


def _looks_numeric(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+(?:\.[0-9]+)?", text) is not None


class _Blob(_Node):
    __slots__ = ("max", "min")
    kind = "a base64-encoded string"

    def __init__(self, sensitive: bool, min_len: int | None, max_len: int | None) -> None:
        super().__init__(sensitive)
        self.min = min_len
        self.max = max_len

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, str):
            self.wrong_type(value, path, errs)
            return None
        return self.from_text(value, path, errs, "")

    def from_text(self, text: str, path: str, errs: list[str], fmt: str) -> Any:
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            _fail(errs, text, path, self.sensitive, "Member must be valid base64")
            return None
        if self.min is not None and len(data) < self.min:
            _fail(
                errs,
                text,
                path,
                self.sensitive,
                f"Member must have length greater than or equal to {self.min}",
            )
        if self.max is not None and len(data) > self.max:
            _fail(
                errs,
                text,
                path,
                self.sensitive,
                f"Member must have length less than or equal to {self.max}",
            )
        return data


def _check_count(n: int, lo: int | None, hi: int | None, path: str, errs: list[str]) -> None:
    if lo is not None and n < lo:
        errs.append(
            f"Value with {n} elements at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {lo}"
        )
    if hi is not None and n > hi:
        errs.append(
            f"Value with {n} elements at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {hi}"
        )


class _List(_Node):
    __slots__ = ("max", "member", "min")
    kind = "a JSON array"

    def __init__(self, sensitive: bool, min_len: int | None, max_len: int | None) -> None:
        super().__init__(sensitive)
        self.min = min_len
        self.max = max_len
        self.member: _Node = _Node(False)  # set after construction (recursive shapes)

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, list):
            self.wrong_type(value, path, errs)
            return None
        _check_count(len(value), self.min, self.max, path, errs)
        member = self.member
        out = []
        for i, item in enumerate(value):
            item_path = f"{path}[{i}]"
            if item is None:
                _fail(errs, None, item_path, False, "Member must not be null")
                continue
            out.append(member.from_json(item, item_path, errs))
        return out

    def from_texts(self, texts: Sequence[str], path: str, errs: list[str], fmt: str) -> Any:
        _check_count(len(texts), self.min, self.max, path, errs)
        return [self.member.from_text(t, f"{path}[{i}]", errs, fmt) for i, t in enumerate(texts)]


class _Map(_Node):
    __slots__ = ("key", "max", "min", "value")
    kind = "a JSON object"

    def __init__(self, sensitive: bool, min_len: int | None, max_len: int | None) -> None:
        super().__init__(sensitive)
        self.min = min_len
        self.max = max_len
        self.key: _String = _String(False, None, None, None, ())
        self.value: _Node = _Node(False)

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, dict):
            self.wrong_type(value, path, errs)
            return None
        _check_count(len(value), self.min, self.max, path, errs)
        out = {}
        for k, v in value.items():
            self.key.check(k, f"{path} (key)", errs)
            item_path = f"{path}.{k if len(k) <= _MAX_SHOWN else k[:_MAX_SHOWN] + '...'}"
            if v is None:
                _fail(errs, None, item_path, False, "Member must not be null")
                continue
            out[k] = self.value.from_json(v, item_path, errs)
        return out


class _Structure(_Node):
    __slots__ = ("members", "required")
    kind = "a JSON object"

    def __init__(self, sensitive: bool) -> None:
        super().__init__(sensitive)
        # (member name, JSON key, node); filled after construction (recursive shapes)
        self.members: tuple[tuple[str, str, _Node], ...] = ()
        self.required: tuple[str, ...] = ()

    def read_members(
        self, value: Mapping[str, Any], prefix: str, out: dict[str, Any], errs: list[str]
    ) -> None:
        for name, key, node in self.members:
            item = value.get(key)
            if item is not None:
                out[name] = node.from_json(item, prefix + name, errs)

    def from_json(self, value: Any, path: str, errs: list[str]) -> Any:
        if not isinstance(value, dict):
            self.wrong_type(value, path, errs)
            return None
        out: dict[str, Any] = {}
        self.read_members(value, path + ".", out, errs)
        for name in self.required:
            if name not in out:
                _fail(errs, None, f"{path}.{name}", False, "Member must not be null")
        return out


# --- compiled shapes: output side ------------------------------------------------------------

_Conv = Callable[[Any], Any]


def _timestamp_to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        seconds = value.timestamp()
        # Whole seconds as an int keeps the JSON short; JS v3 and botocore accept both.
        return int(seconds) if value.microsecond == 0 else seconds
    return value  # already epoch seconds


def _blob_to_json(value: Any) -> Any:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def _to_header(type_name: str, value: Any) -> str:
    if type_name == "boolean":
        return "true" if value else "false"
    if type_name == "timestamp":
        if isinstance(value, int | float):
            value = _EPOCH + timedelta(seconds=value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value.astimezone(UTC), usegmt=True)
    if type_name == "blob":
        return str(_blob_to_json(value))
    return str(value)


class _OutStruct:
    """Writes only the members of the shape: internal fields never leak to clients."""

    __slots__ = ("members",)

    def __init__(self) -> None:
        self.members: tuple[tuple[str, str, _Conv | None], ...] = ()

    def __call__(self, value: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, key, conv in self.members:
            item = value.get(name)
            if item is not None:
                out[key] = item if conv is None else conv(item)
        return out


# --- the compiler ----------------------------------------------------------------------------

_UNIVERSAL: Final = frozenset({".*", "[\\s\\S]*", "[\\S\\s]*"})
_SCALARS: Final = frozenset({"string", "integer", "long", "boolean", "timestamp", "blob"})


class _Compiler:
    """Compiles one service model's shapes; memoised by shape name to share and allow cycles."""

    def __init__(self, service_name: str) -> None:
        self.service = service_name
        self.inputs: dict[str, _Node] = {}
        self.outputs: dict[str, _Conv | None] = {}

    def input(self, shape: Any) -> _Node:
        node = self.inputs.get(shape.name)
        if node is not None:
            return node
        meta = shape.metadata
        sensitive = bool(meta.get("sensitive", False))
        t = shape.type_name
        if t == "string":
            pattern = meta.get("pattern")
            if pattern in _UNIVERSAL:
                pattern = None  # matches everything under DOTALL: skip the per-request scan
            node = _String(
                sensitive,
                meta.get("min"),
                meta.get("max"),
                model_pattern(pattern) if pattern else None,
                list(shape.enum),
            )
        elif t in ("integer", "long"):
            lo, hi = _INT32 if t == "integer" else _INT64
            node = _Integer(sensitive, max(lo, meta.get("min", lo)), min(hi, meta.get("max", hi)))
        elif t == "boolean":
            node = _Boolean(sensitive)
        elif t == "timestamp":
            fmt = shape.serialization.get("timestampFormat")
            node = _Timestamp(sensitive, fmt.lower() if fmt else None)
        elif t == "blob":
            node = _Blob(sensitive, meta.get("min"), meta.get("max"))
        elif t == "list":
            lst = _List(sensitive, meta.get("min"), meta.get("max"))
            self.inputs[shape.name] = lst
            lst.member = self.input(shape.member)
            return lst
        elif t == "map":
            mp = _Map(sensitive, meta.get("min"), meta.get("max"))
            self.inputs[shape.name] = mp
            key = self.input(shape.key)
            if not isinstance(key, _String):
                raise TypeError(f"{self.service}: map {shape.name} has non-string keys")
            mp.key = key
            mp.value = self.input(shape.value)
            return mp
        elif t == "structure":
            if shape.metadata.get("union") or shape.is_document_type:
                raise TypeError(f"{self.service}: {shape.name}: unions/documents unsupported")
            st = _Structure(sensitive)
            self.inputs[shape.name] = st
            st.members = tuple(
                (name, self._body_key(shape, name, m), self.input(m))
                for name, m in shape.members.items()
            )
            st.required = tuple(shape.required_members)
            return st
        else:
            # A botocore upgrade adding float/document shapes must fail tests, not requests.
            raise TypeError(f"{self.service}: shape {shape.name} of type {t} is unsupported")
        self.inputs[shape.name] = node
        return node

    def _body_key(self, parent: Any, name: str, member: Any) -> str:
        ser = member.serialization
        if ser.get("location") or ser.get("jsonvalue"):
            raise TypeError(f"{self.service}: nested {parent.name}.{name} has HTTP bindings")
        return str(ser.get("name", name))

    def output(self, shape: Any) -> _Conv | None:
        """A converter for *shape*, or None when its JSON form is the Python value itself."""
        if shape.name in self.outputs:
            return self.outputs[shape.name]
        t = shape.type_name
        conv: _Conv | None
        if t == "timestamp":
            fmt = shape.serialization.get("timestampFormat")
            if fmt and fmt.lower() != "unixtimestamp":
                raise TypeError(f"{self.service}: {shape.name}: timestampFormat {fmt}")
            conv = _timestamp_to_json
        elif t == "blob":
            conv = _blob_to_json
        elif t in _SCALARS:
            conv = None
        elif t == "list":
            self.outputs[shape.name] = None  # provisional, for cycles
            member = self.output(shape.member)
            conv = None if member is None else _list_conv(member)
        elif t == "map":
            self.outputs[shape.name] = None
            value = self.output(shape.value)
            conv = None if value is None else _map_conv(value)
        elif t == "structure":
            st = _OutStruct()
            self.outputs[shape.name] = st
            st.members = tuple(
                (name, self._body_key(shape, name, m), self.output(m))
                for name, m in shape.members.items()
            )
            return st
        else:
            raise TypeError(f"{self.service}: shape {shape.name} of type {t} is unsupported")
        self.outputs[shape.name] = conv
        return conv


def _list_conv(member: _Conv) -> _Conv:
    def conv(value: Any) -> Any:
        return [None if v is None else member(v) for v in value]

    return conv


def _map_conv(item: _Conv) -> _Conv:
    def conv(value: Any) -> Any:
        return {k: None if v is None else item(v) for k, v in value.items()}

    return conv


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _InputPlan:
    # (member name, label name, node)
    uri: tuple[tuple[str, str, _Node], ...]
    # (member name, query key, node, is_list)
    query: tuple[tuple[str, str, _Node, bool], ...]
    # (member name, lower-cased header name, node)
    headers: tuple[tuple[str, str, _Node], ...]
    body: _Structure | None
    required: tuple[tuple[str, str], ...]  # (member name, where-hint for non-body members)
    idempotency: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _OutputPlan:
    body: _OutStruct | None
    headers: tuple[tuple[str, str, str], ...]  # (member name, header name, type name)
    empty: bool  # 204: no body, no Content-Type


@dataclass(frozen=True, slots=True)
class Operation:
    """One compiled operation. ``model`` is botocore's ``OperationModel`` for anything else."""

    name: str
    service: str  # "chime-sdk-messaging" or "chime-sdk-identity"
    method: str
    request_uri: str
    status: int  # the model's http.responseCode
    model: Any = field(repr=False, compare=False)
    input_plan: _InputPlan = field(repr=False, compare=False)
    output_plan: _OutputPlan = field(repr=False, compare=False)


def _compile_operation(compiler: _Compiler, op: Any) -> Operation:
    service = compiler.service
    uri: list[tuple[str, str, _Node]] = []
    query: list[tuple[str, str, _Node, bool]] = []
    headers: list[tuple[str, str, _Node]] = []
    body = _Structure(False)
    body_members: list[tuple[str, str, _Node]] = []
    required: list[tuple[str, str]] = []
    idempotency: tuple[str, ...] = ()
    shape = op.input_shape
    if shape is not None:
        if shape.serialization.get("payload"):
            raise TypeError(f"{service}.{op.name}: payload members are unsupported")
        idempotency = tuple(op.idempotent_members)
        required_names = set(shape.required_members)
        for name, member in shape.members.items():
            ser = member.serialization
            location = ser.get("location")
            wire = str(ser.get("name", name))
            node = compiler.input(member)
            hint = ""
            if location == "uri":
                _require_scalar(service, op.name, name, member)
                uri.append((name, wire, node))
                hint = f"path label {{{wire}}}"
            elif location == "querystring":
                is_list = member.type_name == "list"
                _require_scalar(service, op.name, name, member.member if is_list else member)
                query.append((name, wire, node, is_list))
                hint = f"query parameter {wire}"
            elif location == "header":
                _require_scalar(service, op.name, name, member)
                headers.append((name, wire.lower(), node))
                hint = f"header {wire}"
            elif location is None:
                if ser.get("jsonvalue"):
                    raise TypeError(f"{service}.{op.name}.{name}: jsonvalue is unsupported")
                body_members.append((name, wire, node))
            else:
                raise TypeError(f"{service}.{op.name}.{name}: location {location} unsupported")
            if name in required_names:
                required.append((name, hint))
    body.members = tuple(body_members)

    out_body: _OutStruct | None = None
    out_headers: list[tuple[str, str, str]] = []
    out_shape = op.output_shape
    if out_shape is not None:
        out_body = _OutStruct()
        members: list[tuple[str, str, _Conv | None]] = []
        for name, member in out_shape.members.items():
            ser = member.serialization
            location = ser.get("location")
            if location == "header":
                _require_scalar(service, op.name, name, member)
                out_headers.append((name, str(ser.get("name", name)), member.type_name))
            elif location is None:
                members.append((name, str(ser.get("name", name)), compiler.output(member)))
            else:
                raise TypeError(f"{service}.{op.name}.{name}: output location {location}")
        out_body.members = tuple(members)
    status = int(op.http.get("responseCode", 200))
    if status == 204 and out_body is not None and out_body.members:
        raise TypeError(f"{service}.{op.name}: a 204 response cannot carry body members")
    return Operation(
        name=op.name,
        service=service,
        method=op.http["method"].upper(),
        request_uri=op.http["requestUri"],
        status=status,
        model=op,
        input_plan=_InputPlan(
            uri=tuple(uri),
            query=tuple(query),
            headers=tuple(headers),
            body=body if body_members else None,
            required=tuple(required),
            idempotency=idempotency,
        ),
        output_plan=_OutputPlan(body=out_body, headers=tuple(out_headers), empty=status == 204),
    )


def _require_scalar(service: str, op: str, name: str, member: Any) -> None:
    if member.type_name not in _SCALARS:
        raise TypeError(f"{service}.{op}.{name}: {member.type_name} outside the JSON body")


# --- the router ------------------------------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class Match:
    operation: Operation
    path_params: dict[str, str]  # label name (as in requestUri) -> decoded value


@dataclass(frozen=True, slots=True)
class _Route:
    operation: Operation
    # per path segment: (text, is_label); text is the literal, or the label name
    segments: tuple[tuple[str, bool], ...]
    greedy: int  # index of the {Label+} segment, or -1
    selectors: tuple[tuple[str, str | None], ...]  # literal query in requestUri; None: key only

    @property
    def head(self) -> str | None:
        text, is_label = self.segments[0]
        return None if is_label else text

    def match_path(self, segs: Sequence[str]) -> dict[str, str] | None:
        """Raw (still encoded) label values if the path fits, else None."""
        n = len(self.segments)
        if self.greedy < 0:
            return self._match_fixed(segs, 0) if len(segs) == n else None
        tail = n - self.greedy - 1
        if len(segs) < n:
            return None
        params = self._match_fixed(segs[: self.greedy], 0)
        rest = self._match_fixed(segs[len(segs) - tail :], self.greedy + 1) if tail else {}
        if params is None or rest is None:
            return None
        middle = "/".join(segs[self.greedy : len(segs) - tail])
        if not middle:
            return None
        params.update(rest)
        params[self.segments[self.greedy][0]] = middle
        return params

    def _match_fixed(self, segs: Sequence[str], offset: int) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for (text, is_label), raw in zip(self.segments[offset:], segs, strict=False):
            if not is_label:
                if raw != text:
                    return None
            elif not raw:
                return None  # a label is never empty: "/channels//messages" is no route
            else:
                params[text] = raw
        return params

    def selectors_ok(self, query: Mapping[str, list[str]]) -> bool:
        for key, value in self.selectors:
            got = query.get(key)
            if got is None or (value is not None and value not in got):
                return False
        return True

    @property
    def sort_key(self) -> tuple[int, int, int]:
        # Selector routes first (SearchChannels beats CreateChannel on POST /channels), then
        # the more literal route, then fixed before greedy.
        literal_count = sum(1 for _, is_label in self.segments if not is_label)
        return (-len(self.selectors), -literal_count, 1 if self.greedy >= 0 else 0)


_LABEL_RE: Final = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


def _compile_route(op: Operation) -> _Route:
    path, _, query = op.request_uri.partition("?")
    if not path.startswith("/"):
        raise ValueError(f"{op.service}.{op.name}: requestUri {op.request_uri!r}")
    segments: list[tuple[str, bool]] = []
    greedy = -1
    for i, seg in enumerate(path[1:].split("/")):
        m = _LABEL_RE.fullmatch(seg)
        if m is None:
            if "{" in seg or "}" in seg:
                raise ValueError(f"{op.service}.{op.name}: label mixed with text in {seg!r}")
            segments.append((seg, False))
            continue
        if m.group(2):
            if greedy >= 0:
                raise ValueError(f"{op.service}.{op.name}: two greedy labels")
            greedy = i
        segments.append((m.group(1), True))
    selectors: list[tuple[str, str | None]] = []
    for part in query.split("&") if query else ():
        key, eq, value = part.partition("=")
        selectors.append((key, value if eq else None))
    return _Route(op, tuple(segments), greedy, tuple(selectors))


def _parse_query(raw_query: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not raw_query:
        return out
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        out.setdefault(_decode(key, "query"), []).append(_decode(value, "query"))
    return out


@lru_cache(maxsize=1024)
def _unescaped(raw: str) -> str:
    # Twice as fast as unquote(errors="strict"), and every ARN label has escapes; the same few
    # ARNs come again and again, so each is decoded once.
    return unquote_to_bytes(raw).decode("utf-8")


def _decode(raw: str, where: str) -> str:
    if "%" not in raw:
        return raw
    try:
        return _unescaped(raw)
    except UnicodeDecodeError:
        raise BadRequest(
            f"The {where} contains percent-escapes that are not valid UTF-8: {raw[:_MAX_SHOWN]!r}"
        ) from None


def _describe(route: _Route) -> str:
    """The route's selector as a client would write it, e.g. ``?operation=search``."""
    return "?" + "&".join(k if v is None else f"{k}={v}" for k, v in route.selectors)


def _describe_given(given: Mapping[str, str]) -> str:
    return "?" + "&".join(f"{k}={v[:_MAX_SHOWN]}" for k, v in sorted(given.items()))


class Router:
    """Maps (method, raw path, raw query) to an :class:`Operation` of either service.

    Build it once (``default_router()`` caches one); ``match`` is a dict lookup on the first path
    segment followed by a scan of the few routes that share it.
    """

    def __init__(self, models: Sequence[Any] | None = None) -> None:
        models = service_models() if models is None else models
        operations: dict[str, Operation] = {}
        routes: list[_Route] = []
        seen: dict[tuple[str, str], Operation] = {}
        for model in models:
            compiler = _Compiler(model.service_name)
            for name in model.operation_names:
                op = _compile_operation(compiler, model.operation_model(name))
                key = (op.method, op.request_uri)
                if key in seen:
                    first = seen[key]
                    if first.name != op.name:
                        raise ValueError(
                            f"{op.service}.{op.name} and {first.service}.{first.name} share "
                            f"{op.method} {op.request_uri}"
                        )
                    continue  # /tags: the first service answers for both (module docstring)
                seen[key] = op
                if op.name in operations:
                    raise ValueError(f"operation name {op.name} is defined twice")
                operations[op.name] = op
                routes.append(_compile_route(op))
        self.operations: Mapping[str, Operation] = operations
        # "operation", "scope": query keys that select an operation on a shared path.
        self._selector_keys = frozenset(key for r in routes for key, _ in r.selectors)
        # Fixed routes are indexed by (first literal segment, segment count), then by the last
        # segment: a route whose last segment is a literal is a candidate only for a path that
        # ends with it, so a lookup leaves one or two candidates (POST /channels/{}/... has
        # five routes), in the routes' order. Routes that start with a label or have a greedy
        # label (none in the Chime models) are scanned after them.
        fixed: dict[str, dict[tuple[str, int], list[_Route]]] = {}
        self._scan: dict[str, list[_Route]] = {}
        for route in sorted(routes, key=lambda r: r.sort_key):
            method = route.operation.method
            fixed.setdefault(method, {})
            head = route.head
            if route.greedy >= 0 or head is None:
                self._scan.setdefault(method, []).append(route)
            else:
                fixed[method].setdefault((head, len(route.segments)), []).append(route)
        # (head, count) -> (routes for a last segment no route names, {last segment: routes})
        self._fixed: dict[
            str, dict[tuple[str, int], tuple[tuple[_Route, ...], dict[str, tuple[_Route, ...]]]]
        ] = {}
        for method, by_shape in fixed.items():
            index = self._fixed[method] = {}
            for shape, shaped in by_shape.items():
                labelled = tuple(r for r in shaped if r.segments[-1][1])
                by_tail = {
                    text: tuple(
                        r for r in shaped if r.segments[-1] == (text, False) or r in labelled
                    )
                    for text, is_label in (r.segments[-1] for r in shaped)
                    if not is_label
                }
                index[shape] = (labelled, by_tail)

    def _given_selectors(self, raw_query: str) -> dict[str, str]:
        """The selector keys present in the query, each given once (else BadRequest)."""
        if not raw_query or not any(key in raw_query for key in self._selector_keys):
            return {}
        given: dict[str, str] = {}
        for key, values in _parse_query(raw_query).items():
            if key not in self._selector_keys:
                continue
            if len(values) > 1:
                raise BadRequest(
                    f"The query selector '{key}' is given {len(values)} times: name one "
                    "operation, once."
                )
            given[key] = values[0]
        return given

    def _candidates(self, method: str, segs: Sequence[str]) -> Iterable[_Route]:
        fixed = self._fixed.get(method)
        if fixed is None:
            return ()
        shaped = fixed.get((segs[0], len(segs)))
        if shaped is None:
            exact: tuple[_Route, ...] = ()
        else:
            labelled, by_tail = shaped
            exact = by_tail.get(segs[-1], labelled)
        scan = self._scan.get(method)
        return (*exact, *scan) if scan else exact

    def match(self, method: str, raw_path: str, raw_query: str) -> Match:
        """Route a request. *raw_path* excludes the query string and is still percent-encoded
        (aiohttp: ``request.rel_url.raw_path``; note that ``request.raw_path`` includes the query).
        """
        if "?" in raw_path:
            raise ValueError("raw_path must not include the query string")
        method = method.upper()
        segs = raw_path[1:].split("/") if raw_path.startswith("/") else None
        query: dict[str, list[str]] | None = None
        given = self._given_selectors(raw_query)
        selector_hint: list[str] = []
        shown = raw_path if len(raw_path) <= 256 else raw_path[:256] + "..."
        if segs is not None:
            for route in self._candidates(method, segs):
                params = route.match_path(segs)
                if params is None:
                    continue
                if route.selectors:
                    if query is None:
                        query = _parse_query(raw_query)
                    if not route.selectors_ok(query):
                        selector_hint.append(_describe(route))
                        continue
                if given and not given.keys() <= {key for key, _ in route.selectors}:
                    # A selector this operation does not take: the client meant another
                    # operation (or several at once); running this one would be a guess.
                    raise BadRequest(
                        f"The query selector {_describe_given(given)} does not select an "
                        f"operation on {method} {shown}"
                    )
                return Match(route.operation, {k: _decode(v, "path") for k, v in params.items()})
        if selector_hint and given:
            raise BadRequest(
                f"The query selector {_describe_given(given)} does not select an operation on "
                f"{method} {shown}: this path takes {' or '.join(sorted(selector_hint))}"
            )
        if selector_hint:
            raise UnknownOperation(
                f"No operation matches {method} {shown}: this path needs the query "
                f"selector {' or '.join(sorted(selector_hint))}"
            )
        if segs is not None:
            if query is None:
                query = _parse_query(raw_query)
            allowed = {
                other
                for other in self._fixed
                if other != method
                and any(
                    r.match_path(segs) is not None and r.selectors_ok(query)
                    for r in self._candidates(other, segs)
                )
            }
            if allowed:
                raise MethodNotAllowed(
                    f"Method {method} is not allowed on {shown}; "
                    f"allowed: {', '.join(sorted(allowed))}",
                    allowed,
                )
        raise UnknownOperation(f"No operation matches {method} {shown}")


@cache
def default_router() -> Router:
    """The router over both Chime SDK services, compiled once per process."""
    return Router()


# --- requests --------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    value = headers.get(lower_name)
    if value is not None:
        return value
    # Case-insensitive mappings (aiohttp's CIMultiDictProxy) answered above; for a plain dict
    # with other casing, fall back to a scan of the (few) headers.
    for key, item in headers.items():
        if key.lower() == lower_name:
            return item
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# NaN and Infinity are Python extensions, not JSON; one shared decoder avoids a per-call setup.
_JSON_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _load_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}  # JS v3 and botocore omit the body when no body member is set
    try:
        # RFC 8259: JSON between systems is UTF-8; strict decoding also rejects stray bytes.
        value = _JSON_DECODER.decode(body.decode("utf-8"))
    except RecursionError:
        raise BadRequest("The request body is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"The request body must be a JSON object, not a JSON {_json_type(value)}")
    return value


def parse_request(
    match: Match, raw_query: str, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The operation's input as a dict keyed by botocore member names, validated.

    *headers* may be any mapping; lookups are case-insensitive (a lower-cased key or a
    case-insensitive mapping is the fast path). The body is only read when the operation has body
    members. Raises :class:`BadRequest` listing every violation found.
    """
    plan = match.operation.input_plan
    errs: list[str] = []
    out: dict[str, Any] = {}

    for name, label, node in plan.uri:
        raw = match.path_params.get(label)
        if raw is not None:
            local: list[str] = []
            out[name] = node.from_text(raw, name, local, "iso8601")
            if local:
                errs.extend(f"{e} (path label {{{label}}})" for e in local)

    if plan.query:
        query = _parse_query(raw_query)
        for name, key, node, is_list in plan.query:
            values = query.get(key)
            if values is None:
                continue
            local = []
            if is_list:
                assert isinstance(node, _List)
                out[name] = node.from_texts(values, name, local, "iso8601")
            elif len(values) > 1:
                local.append(
                    f"Value with {len(values)} elements at '{name}' failed to satisfy "
                    "constraint: Member must be given at most once"
                )
            else:
                out[name] = node.from_text(values[0], name, local, "iso8601")
            errs.extend(f"{e} (query parameter {key})" for e in local)

    for name, lower_name, node in plan.headers:
        value = _header(headers, lower_name)
        if value is not None:
            local = []
            out[name] = node.from_text(value, name, local, "rfc822")
            if local:
                errs.extend(f"{e} (header {lower_name})" for e in local)

    if plan.body is not None:
        plan.body.read_members(_load_body(body), "", out, errs)

    for name in plan.idempotency:
        if out.get(name) is None:
            out[name] = ids.uuid_string()  # what botocore and JS v3 would have sent

    for name, hint in plan.required:
        if name not in out:
            msg = f"Value null at '{name}' failed to satisfy constraint: Member must not be null"
            errs.append(f"{msg} ({hint})" if hint else msg)
    _raise_if(errs)
    return out


def validate_input(operation: Operation, params: Mapping[str, Any]) -> dict[str, Any]:
    """An input given as a dict of member names (not as an HTTP request), validated as
    :func:`parse_request` validates a request: for callers inside the server that build an
    operation's input themselves (the console's forms), so that the operation sees only what
    the wire could have given it."""
    plan = operation.input_plan
    errs: list[str] = []
    out: dict[str, Any] = {}
    for name, _, node in (
        *plan.uri,
        *((n, k, node) for n, k, node, _ in plan.query),
        *plan.headers,
    ):
        if params.get(name) is not None:
            out[name] = node.from_json(params[name], name, errs)
    if plan.body is not None:
        plan.body.read_members(
            {key: params[name] for name, key, _ in plan.body.members if name in params},
            "",
            out,
            errs,
        )
    for name in plan.idempotency:
        if out.get(name) is None:
            out[name] = ids.uuid_string()
    for name, _ in plan.required:
        if name not in out:
            errs.append(
                f"Value null at '{name}' failed to satisfy constraint: Member must not be null"
            )
    _raise_if(errs)
    return out


# --- responses -------------------------------------------------------------------------------

_JSON_HEADERS: Final = {"Content-Type": "application/json"}
_dumps: Final = compact_unicode


def _encode(value: Any) -> bytes:
    # "replace": a stray surrogate that slipped into storage costs one character, not a 500 on
    # every later read of that record.
    return _dumps(value).encode("utf-8", "replace")


def serialize_response(
    operation: Operation, output: Mapping[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) for a successful call; members outside the model are dropped."""
    plan = operation.output_plan
    if plan.empty:
        return operation.status, {}, b""
    headers = dict(_JSON_HEADERS)
    for name, header_name, type_name in plan.headers:
        value = output.get(name)
        if value is not None:
            headers[header_name] = _to_header(type_name, value)
    body = b"{}" if plan.body is None else _encode(plan.body(output))
    return operation.status, headers, body


def serialize_error(err: AwsError, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) that botocore and JS v3 map back to the modeled exception.

    Both SDKs take the error code from ``x-amzn-ErrorType`` first; the body carries the Chime
    ``Code`` enum and the ``Message`` that ``ClientError`` shows.
    """
    headers = {
        "Content-Type": "application/json",
        "x-amzn-ErrorType": err.shape,
        "x-amzn-RequestId": request_id,
    }
    if isinstance(err, MethodNotAllowed):
        headers["Allow"] = ", ".join(err.allowed)
    return err.status, headers, _encode({"Code": err.code, "Message": err.message})
