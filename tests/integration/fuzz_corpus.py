"""A generated corpus of malformed requests for every operation of the four services.

Pure: requests are built from botocore's models (chime-sdk-identity and chime-sdk-messaging over
rest-json, iam and sts over the query protocol) and returned as data; ``test_fuzz.py`` signs and
sends them. Each mutation is invalid by construction (a wrong type, a missing required member, a
value past a model bound, a body that is not what it claims...), so the only right answer is a
4xx with a modeled error and no change to the store. A seeded RNG picks the values, so a failure
names a request that the next run sends again.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from unit._codec_shapes import fill  # the model-driven valid-value filler of the codec tests

from bellwire.aws import codec

JSON_HEADERS = {"Content-Type": "application/json"}
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH")
NOT_AN_ARN = "not an arn!"
# Well-formed, but naming nothing that exists (an app instance nobody created).
NOWHERE = "arn:aws:chime:us-east-1:123456789012:app-instance/00000000-fuzz/user/nobody"


@dataclass(frozen=True)
class Req:
    id: str
    method: str
    path: str  # raw, percent-encoded
    query: str = ""  # raw, percent-encoded (upper-case escapes, as botocore signs them)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


def enc(value: str) -> str:
    return quote(value, safe="-_.~")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Values of the wrong JSON type for each model type (as JSON text, so depth can be extreme).
WRONG_JSON: dict[str, tuple[str, ...]] = {
    "string": ("12345", "[]", '{"a": 1}', "true", nested(900), '"\\ud800"'),
    "integer": ('"7"', "true", "1.5", "1e999", "[]", "9" * 30),
    "long": ('"7"', "1.5", "9" * 30),
    "boolean": ('"true"', "0", "null1"),
    "list": ('"x"', '{"a": 1}', "7", nested(900)),
    "map": ('["a"]', '"x"', "7"),
    "structure": ('"x"', "[1, 2]", "7"),
    "timestamp": ('"yesterday"', "{}", "[1]"),
    "blob": ("123", '"***not base64***"'),
}
WRONG_TEXT: dict[str, tuple[str, ...]] = {
    "integer": ("ten", "1.5", "9" * 30, ""),
    "long": ("ten", "9" * 30),
    "boolean": ("maybe", "1"),
    "timestamp": ("yesterday", "1700000000", "2024-02-30T00:00:00Z"),
}


# --- rest-json: chime-sdk-identity and chime-sdk-messaging --------------------------------------


class RestOperation:
    """One Chime operation and how its members travel."""

    def __init__(self, op_model: Any, world: Mapping[str, str]) -> None:
        self.model = op_model
        self.name: str = op_model.name
        self.method: str = op_model.http["method"]
        path, _, selector = op_model.http["requestUri"].partition("?")
        self.template = path
        self.selector = selector
        shape = op_model.input_shape
        self.shape = shape
        self.members: dict[str, Any] = dict(shape.members) if shape is not None else {}
        self.required: list[str] = list(shape.required_members) if shape is not None else []
        self.world = world
        base = fill(shape, minimal=True) if shape is not None else {}
        for name in base:
            if name in world:
                base[name] = world[name]
        self.base: dict[str, Any] = base

    def location(self, name: str) -> str | None:
        """uri, querystring, header, or None: the JSON body (unknown members go there too)."""
        member = self.members.get(name)
        loc: str | None = None if member is None else member.serialization.get("location")
        return loc

    def wire_name(self, name: str) -> str:
        wire: str = self.members[name].serialization.get("name", name)
        return wire

    def body_members(self) -> list[str]:
        return [n for n in self.members if self.location(n) is None]

    def build(
        self,
        params: Mapping[str, Any],
        *,
        method: str | None = None,
        raw_labels: Mapping[str, str] | None = None,
        extra_query: str = "",
        body: bytes | None = None,
        body_json: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[str, str, str, dict[str, str], bytes]:
        """(method, path, query, headers, body) for these params; the overrides are raw."""
        path = self.template
        for name in self.members:
            if self.location(name) != "uri":
                continue
            label = self.wire_name(name)
            raw = (raw_labels or {}).get(name)
            if raw is None:
                raw = enc(_text(params[name])) if name in params else ""
            path = path.replace("{" + label + "}", raw).replace("{" + label + "+}", raw)
        pairs: list[str] = [self.selector] if self.selector else []
        out_headers: dict[str, str] = {}
        document: dict[str, Any] = {}
        for name, value in params.items():
            loc = self.location(name)
            if loc == "querystring":
                key = enc(self.wire_name(name))
                values = value if isinstance(value, list) else [value]
                pairs += [f"{key}={enc(_text(v))}" for v in values]
            elif loc == "header":
                out_headers[self.wire_name(name)] = _text(value)
            elif loc is None:
                document[name] = value
        if extra_query:
            pairs.append(extra_query)
        if body is None:
            if body_json is not None:
                body = body_json.encode()
            elif document or self.body_members():
                body = json.dumps(document, default=_json_default).encode()
            else:
                body = b""
        all_headers = dict(JSON_HEADERS) if body else {}
        all_headers.update(out_headers)
        all_headers.update(headers or {})
        return method or self.method, path, "&".join(pairs), all_headers, body

    def req(self, tag: str, params: Mapping[str, Any], **overrides: Any) -> Req:
        method, path, query, headers, body = self.build(params, **overrides)
        return Req(f"{self.name}:{tag}", method, path, query, headers, body)

    def without(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self.base.items() if k != name}


def _json_with(params: Mapping[str, Any], op: RestOperation, name: str, raw_json: str) -> str:
    """The JSON body of ``params`` with member ``name`` replaced by raw JSON text."""
    document = {k: v for k, v in params.items() if op.location(k) is None and k != name}
    text = json.dumps(document, default=_json_default)
    member = json.dumps(name)
    return (text[:-1] + ", " if document else "{") + f"{member}: {raw_json}" + "}"


def rest_corpus(
    op: RestOperation, router: codec.Router, rng: random.Random, max_body: int
) -> Iterator[Req]:
    """Malformed requests for one Chime operation; each must be refused with a 4xx."""
    base = op.base
    selector_keys = ("operation", "scope")

    # Missing required members (a missing label leaves an empty path segment: no route).
    for name in op.required:
        if name in base and name not in op.model.idempotent_members:
            yield op.req(f"missing-{name}", op.without(name))

    # Wrong types in the body, each with an unknown member beside it.
    for name in op.body_members():
        kind = op.members[name].type_name
        for i, raw_json in enumerate(WRONG_JSON[kind]):
            body = _json_with({**base, "UnknownFuzzMember": 1}, op, name, raw_json)
            yield op.req(f"wrong-type-{name}-{i}", base, body_json=body)

    # Wrong types and bad values outside the body.
    for name, member in op.members.items():
        loc = op.location(name)
        kind = member.type_name
        if loc == "querystring":
            key = enc(op.wire_name(name))
            params = {k: v for k, v in base.items() if k != name}
            for i, text in enumerate(WRONG_TEXT.get(kind, ())):
                yield op.req(f"wrong-query-{name}-{i}", params, extra_query=f"{key}={enc(text)}")
            if getattr(member, "enum", None):
                yield op.req(f"bad-enum-{name}", params, extra_query=f"{key}=NOT_IN_ENUM")
            if kind != "list":
                value = enc(_text(base.get(name, "x")))
                yield op.req(f"repeated-{name}", params, extra_query=f"{key}={value}&{key}={value}")
        elif loc == "uri":
            for tag, raw in (
                ("garbage", enc(NOT_AN_ARN)),
                ("bad-utf8", "%FF%FE"),
                ("huge", "a" * 3000),
            ):
                yield op.req(f"label-{name}-{tag}", base, raw_labels={name: raw})
        elif loc == "header":
            for tag, text in (
                ("garbage", NOT_AN_ARN),
                ("channel", op.world["ChannelArn"]),
                ("latin-1", op.world["ChimeBearer"] + "\xe9"),
            ):
                yield op.req(f"header-{name}-{tag}", {**base, name: text})

    # Values past the model's bounds.
    for name, member in op.members.items():
        meta = member.metadata
        kind = member.type_name
        loc = op.location(name)
        if loc == "uri":
            continue
        value: Any = None
        if kind == "string" and "max" in meta and not member.enum:
            value = "x" * (meta["max"] + 1)
        elif kind == "list" and "max" in meta:
            item = fill(member.member)
            value = [item] * (meta["max"] + 1)
        elif kind in ("integer", "long") and "max" in meta:
            value = meta["max"] + 1
        elif kind in ("integer", "long") and "min" in meta:
            value = meta["min"] - 1
        if value is not None:
            if loc == "header":
                value = "x" * 5000
            yield op.req(f"too-big-{name}", {**base, name: value})

    # Bodies that are not what they claim.
    if op.body_members():
        yield op.req("not-json", base, body=b'{"Name": "x", ')
        yield op.req("not-utf8", base, body=b'{"Name": "\xff\xfe"}')
        yield op.req("json-array", base, body=b"[1, 2]")
        yield op.req("json-nan", base, body=b'{"Name": NaN}')
        yield op.req("deep-10000", base, body=b'{"A": ' + nested(10_000).encode() + b"}")
        yield op.req("deep-bare", base, body=nested(100_000).encode())
        if rng.random() < 0.15:  # a few full-size bodies, not one per operation
            yield op.req("over-the-cap", base, body=b'{"A": "' + b"x" * max_body + b'"}')
    method, path, query, headers, body = op.build(base)
    for tag, raw_body, encoding in (
        ("gzip-not-gzip", body or b"{}", "gzip"),
        ("gzip-truncated", gzip.compress(body or b"{}")[:-5], "gzip"),
        ("gzip-bomb", gzip.compress(b" " * (max_body + 1)), "gzip"),
        ("br", body or b"{}", "br"),
    ):
        yield Req(
            f"{op.name}:{tag}",
            method,
            path,
            query,
            {**headers, "Content-Encoding": encoding},
            raw_body,
        )

    # Repeated and conflicting selectors.
    if op.selector:
        key, _, value = op.selector.partition("=")
        yield op.req("selector-twice", base, extra_query=op.selector)
        yield op.req("selector-conflict", base, extra_query=f"{key}=bogus")
        other = "scope" if key == "operation" else "operation"
        yield op.req("selector-other-kind", base, extra_query=f"{other}={value}")
    else:
        for key in selector_keys:
            yield op.req(f"selector-{key}-bogus", base, extra_query=f"{key}=bogus")

    # Wrong methods: only those that route nowhere (another method may be another operation).
    for other in METHODS:
        if other == op.method:
            continue
        try:
            router.match(other, path, query)
        except (codec.UnknownOperation, codec.MethodNotAllowed):
            yield Req(f"{op.name}:method-{other}", other, path, query, headers, body)
        except Exception:  # a BadRequest from routing is also a refusal worth sending
            yield Req(f"{op.name}:method-{other}", other, path, query, headers, body)

    # Bad paths: extra segments, trailing and doubled slashes.
    for tag, bad_path in (
        ("trailing-slash", path + "/"),
        ("extra-segment", path + "/fuzz"),
        ("double-slash", path.replace("/", "//", 1)),
    ):
        try:
            router.match(op.method, bad_path, query)
        except Exception:
            yield Req(f"{op.name}:path-{tag}", op.method, bad_path, query, headers, body)

    # Well-formed requests naming resources that do not exist (a bearer that does): the
    # operations themselves must refuse them.
    names_a_resource = any(n.lower().endswith("arn") for n in op.members if n != "ChimeBearer")
    if op.shape is not None and names_a_resource:
        nowhere = fill(op.shape)
        if "ChimeBearer" in nowhere:
            nowhere["ChimeBearer"] = op.world["ChimeBearer"]
        yield op.req("nowhere", nowhere)

    # ARNs that are no ARNs, in every string member that takes one.
    for name, member in op.members.items():
        if member.type_name == "string" and name.endswith("Arn") and op.location(name) != "uri":
            if op.location(name) == "header":
                continue  # covered above
            yield op.req(f"arn-{name}-garbage", {**base, name: NOT_AN_ARN})


# --- query protocol: iam and sts ----------------------------------------------------------------


def _query_value(shape: Any) -> str:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "string":
        if shape.enum:
            return str(shape.enum[0])
        return "x" * max(meta.get("min", 1), 1)
    if kind in ("integer", "long"):
        return str(meta.get("min", 1))
    if kind == "boolean":
        return "true"
    if kind == "timestamp":
        return "2024-01-01T00:00:00Z"
    if kind == "blob":
        return base64.b64encode(b"x").decode()
    return "x"


def _flatten(shape: Any, prefix: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    """Required members only, flattened the query-protocol way."""
    if depth > 4:
        return
    for name in shape.required_members:
        member = shape.members[name]
        key = prefix + member.serialization.get("name", name)
        kind = member.type_name
        if kind == "structure":
            _flatten(member, key + ".", out, depth + 1)
        elif kind == "list":
            item = member.member
            if item.type_name == "structure":
                _flatten(item, f"{key}.member.1.", out, depth + 1)
            else:
                out.append((f"{key}.member.1", _query_value(item)))
        elif kind == "map":
            out.append((f"{key}.entry.1.key", "k"))
            out.append((f"{key}.entry.1.value", "v"))
        else:
            out.append((key, _query_value(member)))


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs).encode()


def query_corpus(service: str, op_model: Any, version: str, max_body: int) -> Iterator[Req]:
    """Malformed query-protocol requests for one IAM or STS operation."""
    name = op_model.name
    head = [("Action", name), ("Version", version)]
    shape = op_model.input_shape
    base: list[tuple[str, str]] = []
    if shape is not None:
        _flatten(shape, "", base)

    def req(tag: str, body: bytes, headers: Mapping[str, str] = FORM_HEADERS) -> Req:
        return Req(f"{service}.{name}:{tag}", "POST", "/", "", dict(headers), body)

    if shape is not None:
        for member in shape.required_members:
            wire = shape.members[member].serialization.get("name", member)
            kept = [(k, v) for k, v in base if k != wire and not k.startswith(wire + ".")]
            yield req(f"missing-{member}", _form([*head, *kept, ("UnknownFuzzMember", "1")]))
        for member_name, member in shape.members.items():
            wire = member.serialization.get("name", member_name)
            kind = member.type_name
            rest = [(k, v) for k, v in base if k != wire and not k.startswith(wire + ".")]
            for i, text in enumerate(WRONG_TEXT.get(kind, ())):
                yield req(f"wrong-{member_name}-{i}", _form([*head, *rest, (wire, text)]))
            meta = member.metadata
            if kind == "string" and "max" in meta and not member.enum:
                too_long = "x" * (meta["max"] + 1)
                yield req(f"too-long-{member_name}", _form([*head, *rest, (wire, too_long)]))
            if kind == "string" and member.enum:
                yield req(f"bad-enum-{member_name}", _form([*head, *rest, (wire, "NOT_IN_ENUM")]))
            if kind == "list" and "max" in meta and member.member.type_name == "string":
                items = [(f"{wire}.member.{i + 1}", "x") for i in range(meta["max"] + 1)]
                yield req(f"too-many-{member_name}", _form([*head, *rest, *items]))
            if kind == "string" and "Policy" in member_name:
                deep = '{"Version": "2012-10-17", "Statement": ' + nested(900) + "}"
                yield req(f"deep-{member_name}", _form([*head, *rest, (wire, deep)]))
            if kind == "string" and member_name.endswith("Arn"):
                yield req(f"arn-{member_name}", _form([*head, *rest, (wire, NOT_AN_ARN)]))
        if base:
            key, value = base[0]
            yield req("member-twice", _form([*head, *base, (key, value + "y")]))
    body = _form([*head, *base])
    yield req("action-twice", _form([("Action", name), *head[1:], *base, ("Action", "GetUser")]))
    yield req("version-twice", _form([*head, ("Version", version), *base]))
    yield req("wrong-version", _form([("Action", name), ("Version", "1999-01-01"), *base]))
    yield req("not-utf8", body + b"&Extra=%FF%FE\xff")
    yield req("bad-escape", body + b"&Extra=%ZZ")
    yield req("gzip-not-gzip", body, {**FORM_HEADERS, "Content-Encoding": "gzip"})
    yield req(
        "gzip-bomb",
        gzip.compress(body + b"&Pad=" + b"x" * max_body),
        {**FORM_HEADERS, "Content-Encoding": "gzip"},
    )
    yield req("br", body, {**FORM_HEADERS, "Content-Encoding": "br"})
    for bad_path in ("/iam", "//", "/x/"):
        yield Req(f"{service}.{name}:path-{bad_path}", "POST", bad_path, "", FORM_HEADERS, body)
    for method in ("GET", "PUT", "DELETE"):
        yield Req(f"{service}.{name}:method-{method}", method, "/", body.decode("latin-1"), {}, b"")
