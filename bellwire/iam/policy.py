"""Parse and validate IAM JSON policy documents into immutable, pre-compiled objects.

Everything that can be checked when a policy is *written* is checked here, and a document that
would be ambiguous or partly ignored at evaluation time is rejected with
:class:`~bellwire.aws.errors.MalformedPolicyDocument` naming the problem (fail closed, the MinIO
habit). Evaluation (:mod:`bellwire.iam.evaluate`) then never re-parses text: action and resource
patterns are compiled globs, condition values are already ``Decimal`` / microseconds / networks,
and strings with policy variables are token lists rendered against the request context.

Decisions where AWS is vague or lenient (evaluation-time ones are in :mod:`bellwire.iam.evaluate`):

* ``Version`` may be ``"2012-10-17"`` or ``"2008-10-17"``; a missing ``Version`` means
  ``"2008-10-17"``, as in AWS. Under 2008-10-17 ``${...}`` is literal text, as in AWS.
* Size is counted as AWS does, in non-whitespace characters, against ``max_size`` (default
  :data:`MAX_ROLE_INLINE`; callers pass the limit of the policy type they store). Raw text longer
  than ``4 * max_size + 1024`` characters is refused before JSON parsing to bound the work.
* Duplicate JSON object keys, unknown top-level or statement fields, ``NaN``/``Infinity`` and empty
  lists are errors.
* Condition keys: names in the ``aws``, ``sts`` and ``chime`` namespaces must be known (Chime
  defines no service-specific keys, so every ``chime:*`` key is rejected). Keys of other services
  (``s3:prefix``, ``iam:PassedToService`` ...) are accepted because policies are often shared across
  services; this server never puts them in a request context, so they behave as absent keys.
* Operators are case-sensitive, as written in the AWS documentation. ``Null`` takes neither a set
  prefix nor ``IfExists`` (AWS: "except the Null condition"). ``Binary*`` is rejected.
* Policy variables are allowed in ``Resource``/``NotResource`` and in values of ``String*`` and
  ``Arn*`` operators. Other operators' values must parse as their type when written.
* ``Resource`` must be ``"*"`` or an ARN (six components, or an ``arn:`` prefix with a ``*``);
  ``Arn*`` condition values without variables must have six components.
* Trust policies may only name ``sts:`` actions (or ``*``), must not name a ``Resource``, and
  ``NotPrincipal`` is only accepted with ``Deny``. Principals are ``"*"``, ``{"AWS": ...}``
  (account id, account root ARN, or an IAM/STS ARN without wildcards) or ``{"Service": ...}``.
* Sids must be unique within a policy; two spellings of one (case-insensitive) condition key under
  one operator are refused rather than silently ANDed.
"""

from __future__ import annotations

import datetime as _dt
import enum
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, NoReturn, TypeAlias

from bellwire.aws.errors import MalformedPolicyDocument
from bellwire.iam.wildcard import Glob, Wild, compile_glob

__all__ = [
    "MAX_MANAGED",
    "MAX_ROLE_INLINE",
    "MAX_SESSION",
    "MAX_TRUST",
    "MAX_USER_INLINE",
    "OPERATORS",
    "Compare",
    "Condition",
    "ConditionValue",
    "Effect",
    "Family",
    "IpNetwork",
    "OperatorSpec",
    "Policy",
    "PolicyKind",
    "PrincipalSet",
    "SetQualifier",
    "Statement",
    "Template",
    "Var",
    "parse_date",
    "parse_number",
    "parse_policy",
]

# IAM's documented quotas, in non-whitespace characters. Named so that callers pick deliberately.
MAX_USER_INLINE: Final = 2048  # aggregate inline policy size for a user
MAX_MANAGED: Final = 6144  # a customer managed policy
MAX_ROLE_INLINE: Final = 10240  # aggregate inline policy size for a role
MAX_TRUST: Final = 2048  # role trust policy (default quota)
MAX_SESSION: Final = 2048  # inline session policy passed to AssumeRole

VERSION_2012: Final = "2012-10-17"
VERSION_2008: Final = "2008-10-17"

IpNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class PolicyKind(enum.Enum):
    """IDENTITY policies (user, role, group, session) name no principal; TRUST policies (a role's
    assume-role policy) must, and have no ``Resource`` because the resource is the role."""

    IDENTITY = "identity"
    TRUST = "trust"


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


# --- condition keys ----------------------------------------------------------------------------

# Lower-cased names, because condition key names are case-insensitive in IAM.
_KNOWN_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "aws": frozenset(
        {
            "calledvia",
            "calledviafirst",
            "calledvialast",
            "currenttime",
            "epochtime",
            "federatedprovider",
            "multifactorauthage",
            "multifactorauthpresent",
            "principalaccount",
            "principalarn",
            "principalisawsservice",
            "principalorgid",
            "principalorgpaths",
            "principalservicename",
            "principalservicenameslist",
            "principaltype",
            "referer",
            "requestedregion",
            "resourceaccount",
            "resourceorgid",
            "resourceorgpaths",
            "securetransport",
            "sourceaccount",
            "sourcearn",
            "sourceidentity",
            "sourceip",
            "sourceowner",
            "sourcevpc",
            "sourcevpce",
            "tagkeys",
            "tokenissuetime",
            "useragent",
            "userid",
            "username",
            "viaawsservice",
            "vpcsourceip",
        }
    ),
    "sts": frozenset({"externalid", "rolesessionname", "sourceidentity", "transitivetagkeys"}),
    # Amazon Chime documents no service-specific condition keys (only aws:RequestTag/…,
    # aws:ResourceTag/… and aws:TagKeys), so any chime:* key is a typo or an invention.
    "chime": frozenset(),
}
_KEY_PREFIXES: Final[Mapping[str, tuple[str, ...]]] = {
    "aws": ("principaltag/", "requesttag/", "resourcetag/"),
    "sts": (),
    "chime": (),
}
# Tag keys may contain spaces, so the name part is anything non-empty.
_KEY_RE: Final = re.compile(r"^([A-Za-z0-9-]+):(.+)$", re.DOTALL)
_MAX_TAG_KEY: Final = 128


def _check_key(raw: str, where: str) -> str:
    """Validate a condition key (or policy-variable name); return its canonical lower-case form."""
    m = _KEY_RE.match(raw)
    if m is None:
        _fail(f"invalid condition key {raw!r}: expected 'service:name'", where)
    namespace, name = m.group(1).lower(), m.group(2).lower()
    known = _KNOWN_KEYS.get(namespace)
    if known is None:
        return (
            f"{namespace}:{name}"  # another service's key: accepted, never present (see module doc)
        )
    if name in known:
        return f"{namespace}:{name}"
    for prefix in _KEY_PREFIXES[namespace]:
        if name.startswith(prefix):
            tag = name[len(prefix) :]
            if not tag or len(tag) > _MAX_TAG_KEY or "*" in tag or "?" in tag:
                _fail(f"invalid tag key in condition key {raw!r}", where)
            return f"{namespace}:{name}"
    _fail(f"unknown condition key: {raw}", where)


# --- templates (strings that may contain policy variables and wildcards) -----------------------


@dataclass(frozen=True, slots=True)
class Var:
    """``${key}`` or ``${key, 'default'}``; ``key`` is lower-cased."""

    key: str
    default: str | None = None


TemplatePart: TypeAlias = str | Wild | Var
KeyLookup: TypeAlias = Callable[[str], "str | tuple[str, ...] | None"]


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string split into literal text, wildcards and variables.

    Variables substitute *literal* text: a ``*`` in a user name or tag value cannot widen a
    pattern. When there are no variables the glob / text is built once, at parse time.
    """

    raw: str
    parts: tuple[TemplatePart, ...]
    has_vars: bool
    static_glob: Glob | None
    static_text: str | None

    def render(self, lookup: KeyLookup) -> tuple[str | Wild, ...] | None:
        """Substitute variables; ``None`` when one cannot be resolved (matches nothing)."""
        out: list[str | Wild] = []
        for part in self.parts:
            if isinstance(part, Var):
                value = lookup(part.key)
                # Multivalued keys cannot be policy variables (AWS); treat them as unresolved.
                if isinstance(value, str):
                    out.append(value)
                elif part.default is not None:
                    out.append(part.default)
                else:
                    return None
            else:
                out.append(part)
        return tuple(out)

    def text(self, lookup: KeyLookup) -> str | None:
        """The value as plain text (wildcards read back as ``*``/``?``); ``None`` if unresolved."""
        if self.static_text is not None:
            return self.static_text
        rendered = self.render(lookup)
        if rendered is None:
            return None
        return "".join(p if isinstance(p, str) else p.value for p in rendered)


def _parse_template(raw: str, *, variables: bool, wildcards: bool, where: str) -> Template:
    parts: list[TemplatePart] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if variables and ch == "$" and raw.startswith("${", i):
            var, i = _parse_variable(raw, i + 2, where)
            if isinstance(var, Var):
                flush()
                parts.append(var)
            else:
                literal.append(var)  # ${*} ${?} ${$}: the character itself, never a wildcard
            continue
        if wildcards and ch in "*?":
            flush()
            parts.append(Wild.STAR if ch == "*" else Wild.ANY)
        else:
            literal.append(ch)
        i += 1
    flush()
    has_vars = any(isinstance(p, Var) for p in parts)
    static_glob = None
    static_text = None
    if not has_vars:
        plain = tuple(p for p in parts if not isinstance(p, Var))
        static_glob = Glob.from_parts(plain)
        static_text = "".join(p if isinstance(p, str) else p.value for p in plain)
    return Template(raw, tuple(parts), has_vars, static_glob, static_text)


def _parse_variable(raw: str, i: int, where: str) -> tuple[Var | str, int]:
    """Parse after ``${``; return the variable (or escaped char) and the index after ``}``."""
    n = len(raw)
    j = i
    while j < n and raw[j] not in ",}":
        j += 1
    if j >= n:
        _fail(f"unterminated policy variable in {raw!r}", where)
    name = raw[i:j].strip()
    default: str | None = None
    if raw[j] == ",":
        j += 1
        while j < n and raw[j] == " ":
            j += 1
        if j >= n or raw[j] != "'":
            _fail(f"policy variable default must be quoted with ' in {raw!r}", where)
        j += 1
        buf: list[str] = []
        while True:
            if j >= n:
                _fail(f"unterminated policy variable default in {raw!r}", where)
            if raw[j] == "'":
                if raw.startswith("''", j):  # '' is an escaped quote
                    buf.append("'")
                    j += 2
                    continue
                j += 1
                break
            buf.append(raw[j])
            j += 1
        while j < n and raw[j] == " ":
            j += 1
        if j >= n or raw[j] != "}":
            _fail(f"unterminated policy variable in {raw!r}", where)
        default = "".join(buf)
    j += 1  # past "}"
    if name in ("*", "?", "$"):
        if default is not None:
            _fail(f"escape sequence ${{{name}}} takes no default in {raw!r}", where)
        return name, j
    if not name:
        _fail(f"empty policy variable in {raw!r}", where)
    return Var(_check_key(name, where), default), j


# --- conditions --------------------------------------------------------------------------------


class Family(enum.Enum):
    STRING = "String"
    STRING_IGNORE_CASE = "StringIgnoreCase"
    STRING_LIKE = "StringLike"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    IP = "IpAddress"
    ARN = "Arn"
    NULL = "Null"


class Compare(enum.Enum):
    EQ = "=="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class SetQualifier(enum.Enum):
    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    family: Family
    compare: Compare
    negated: bool


def _operators() -> dict[str, OperatorSpec]:
    ops: dict[str, OperatorSpec] = {}
    eq = Compare.EQ
    for name, fam in (
        ("StringEquals", Family.STRING),
        ("StringEqualsIgnoreCase", Family.STRING_IGNORE_CASE),
        ("StringLike", Family.STRING_LIKE),
    ):
        ops[name] = OperatorSpec(fam, eq, False)
        ops[name.replace("String", "StringNot", 1)] = OperatorSpec(fam, eq, True)
    for fam in (Family.NUMERIC, Family.DATE):
        base = fam.value
        ops[f"{base}Equals"] = OperatorSpec(fam, eq, False)
        ops[f"{base}NotEquals"] = OperatorSpec(fam, eq, True)
        ops[f"{base}LessThan"] = OperatorSpec(fam, Compare.LT, False)
        ops[f"{base}LessThanEquals"] = OperatorSpec(fam, Compare.LE, False)
        ops[f"{base}GreaterThan"] = OperatorSpec(fam, Compare.GT, False)
        ops[f"{base}GreaterThanEquals"] = OperatorSpec(fam, Compare.GE, False)
    ops["Bool"] = OperatorSpec(Family.BOOL, eq, False)
    ops["IpAddress"] = OperatorSpec(Family.IP, eq, False)
    ops["NotIpAddress"] = OperatorSpec(Family.IP, eq, True)
    # AWS documents ArnEquals and ArnLike identically: both accept wildcards per ARN component.
    for name in ("ArnEquals", "ArnLike"):
        ops[name] = OperatorSpec(Family.ARN, eq, False)
    for name in ("ArnNotEquals", "ArnNotLike"):
        ops[name] = OperatorSpec(Family.ARN, eq, True)
    ops["Null"] = OperatorSpec(Family.NULL, eq, False)
    return ops


OPERATORS: Final[Mapping[str, OperatorSpec]] = _operators()
_UNSUPPORTED_OPERATORS: Final = frozenset({"BinaryEquals"})

ConditionValue: TypeAlias = Template | Decimal | int | bool | IpNetwork


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``operator: {key: values}`` pair. ``values`` are typed by the operator family:
    ``Template`` (String*, Arn*), ``Decimal`` (Numeric*), ``int`` microseconds since the epoch
    (Date*), ``bool`` (Bool, Null), ``IPv4Network``/``IPv6Network`` (IpAddress)."""

    operator: str  # as written, for explanations
    spec: OperatorSpec
    qualifier: SetQualifier | None
    if_exists: bool
    key: str  # lower-cased
    values: tuple[ConditionValue, ...]


_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_EPOCH_RE: Final = re.compile(r"^-?\d{1,12}$")
_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_MICRO: Final = _dt.timedelta(microseconds=1)


def parse_number(text: str) -> Decimal | None:
    """A decimal number as IAM's Numeric operators accept it (no exponents, NaN or infinity)."""
    if len(text) > 64 or not _NUMBER_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - excluded by the regex
        return None


def parse_date(text: str) -> int | None:
    """ISO 8601 (date, or date-time with optional offset; naive means UTC) or integer epoch
    seconds, as microseconds since the epoch; ``None`` when it is neither."""
    if _EPOCH_RE.match(text):
        return int(text) * 1_000_000
    if len(text) > 64:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    try:
        return (parsed - _EPOCH) // _MICRO
    except OverflowError:  # pragma: no cover - aware datetimes near year 1/9999 with offsets
        return None


def _parse_bool(text: str) -> bool | None:
    low = text.lower()
    return True if low == "true" else False if low == "false" else None


def _scalar(value: object, where: str, what: str) -> str:
    """JSON scalars as IAM reads them: numbers and booleans are their JSON spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    _fail(f"{what} must be a string, number or boolean, not {_json_type(value)}", where)


def _condition_value(spec: OperatorSpec, raw: str, version: str, where: str) -> ConditionValue:
    fam = spec.family
    if fam in (Family.STRING, Family.STRING_IGNORE_CASE, Family.STRING_LIKE, Family.ARN):
        wildcards = fam in (Family.STRING_LIKE, Family.ARN)
        tpl = _parse_template(
            raw, variables=version == VERSION_2012, wildcards=wildcards, where=where
        )
        if fam is Family.ARN and tpl.static_text is not None and not _looks_like_arn(raw):
            # It could never match: Arn* operators compare six colon-separated components.
            _fail(f"invalid ARN in condition: {raw!r}", where)
        return tpl
    if fam is Family.NUMERIC:
        num = parse_number(raw)
        if num is None:
            _fail(f"invalid number in condition: {raw!r}", where)
        return num
    if fam is Family.DATE:
        when = parse_date(raw)
        if when is None:
            _fail(f"invalid date in condition: {raw!r}", where)
        return when
    if fam in (Family.BOOL, Family.NULL):
        flag = _parse_bool(raw)
        if flag is None:
            _fail(f"invalid boolean in condition: {raw!r} (expected true or false)", where)
        return flag
    assert fam is Family.IP
    try:
        return ipaddress.ip_network(raw, strict=False)
    except ValueError:
        _fail(f"invalid IP address or CIDR in condition: {raw!r}", where)


def _parse_operator(name: str, where: str) -> tuple[OperatorSpec, SetQualifier | None, bool]:
    base, qualifier = name, None
    for q in SetQualifier:
        if base.startswith(q.value + ":"):
            base, qualifier = base[len(q.value) + 1 :], q
            break
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    spec = OPERATORS.get(base)
    if spec is None:
        if base in _UNSUPPORTED_OPERATORS:
            _fail(f"Policy document contains an unsupported condition operator: {name}", where)
        _fail(f"Policy document contains an unknown condition operator: {name}", where)
    if spec.family is Family.NULL and (qualifier is not None or if_exists):
        _fail(f"the Null condition operator takes no set qualifier or IfExists: {name}", where)
    return spec, qualifier, if_exists


def _parse_conditions(raw: object, version: str, where: str) -> tuple[Condition, ...]:
    if not isinstance(raw, dict):
        _fail(f"Condition must be an object, not {_json_type(raw)}", where)
    if not raw:
        _fail("Condition must not be empty", where)
    out: list[Condition] = []
    for op_name, block in raw.items():
        spec, qualifier, if_exists = _parse_operator(op_name, where)
        if not isinstance(block, dict) or not block:
            _fail(f"condition operator {op_name} must map to a non-empty object of keys", where)
        seen: set[str] = set()
        for key_raw, values_raw in block.items():
            key = _check_key(key_raw, where)
            if key in seen:
                # Two spellings of one case-insensitive key would silently AND; make it explicit.
                _fail(f"condition key {key_raw!r} appears twice under {op_name}", where)
            seen.add(key)
            items = values_raw if isinstance(values_raw, list) else [values_raw]
            if not items:
                _fail(f"condition key {key_raw!r} under {op_name} has no values", where)
            values = tuple(
                _condition_value(spec, _scalar(v, where, "condition value"), version, where)
                for v in items
            )
            out.append(Condition(op_name, spec, qualifier, if_exists, key, values))
    return tuple(out)


# --- principals --------------------------------------------------------------------------------

_ACCOUNT_RE: Final = re.compile(r"^\d{12}$")
_SERVICE_RE: Final = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$")


@dataclass(frozen=True, slots=True)
class PrincipalSet:
    """The ``Principal``/``NotPrincipal`` element. ``anyone`` is ``"*"`` / ``{"AWS": "*"}``;
    ``accounts`` holds 12-digit ids (from ``123456789012`` or ``arn:…:iam::123456789012:root``)."""

    anyone: bool
    accounts: frozenset[str]
    arns: frozenset[str]
    services: frozenset[str]


def _parse_principal(raw: object, where: str) -> PrincipalSet:
    if raw == "*":
        return PrincipalSet(True, frozenset(), frozenset(), frozenset())
    if not isinstance(raw, dict) or not raw:
        _fail('Principal must be "*" or an object such as {"AWS": ...}', where)
    anyone = False
    accounts: set[str] = set()
    arns: set[str] = set()
    services: set[str] = set()
    for ptype, value in raw.items():
        items = value if isinstance(value, list) else [value]
        if not items:
            _fail(f"Principal {ptype} must not be empty", where)
        for item in items:
            if not isinstance(item, str):
                _fail(f"Principal {ptype} entries must be strings", where)
            if ptype == "AWS":
                if item == "*":
                    anyone = True
                elif _ACCOUNT_RE.match(item):
                    accounts.add(item)
                elif "*" in item or "?" in item:
                    # AWS allows no partial wildcards in principals; use aws:PrincipalArn instead.
                    _fail(f"wildcards are not allowed in a principal: {item}", where)
                else:
                    parts = item.split(":", 5)
                    if len(parts) != 6 or parts[0] != "arn" or not _ACCOUNT_RE.match(parts[4]):
                        _fail(f"invalid principal: {item}", where)
                    if parts[2] == "iam" and parts[5] == "root":
                        accounts.add(parts[4])
                    else:
                        arns.add(item)
            elif ptype == "Service":
                if not _SERVICE_RE.match(item):
                    _fail(f"invalid service principal: {item}", where)
                services.add(item)
            else:
                _fail(f"unsupported principal type: {ptype}", where)
    return PrincipalSet(anyone, frozenset(accounts), frozenset(arns), frozenset(services))


# --- statements and policies -------------------------------------------------------------------

_ACTION_RE: Final = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9_*?-]+$")
_STATEMENT_FIELDS: Final = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_TOP_FIELDS: Final = frozenset({"Version", "Id", "Statement"})


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    actions: tuple[Glob, ...]
    action_patterns: tuple[str, ...]  # as written, for explanations
    not_action: bool
    # None only in trust policies, where the resource is the role itself.
    resources: tuple[Template, ...] | None
    not_resource: bool
    principal: PrincipalSet | None  # None only in identity policies
    not_principal: bool
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    kind: PolicyKind
    version: str
    id: str | None
    statements: tuple[Statement, ...]
    document: str  # the text as submitted, for Get*Policy responses


def _str_list(raw: object, field: str, where: str) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        _fail(f"{field} must not be empty", where)
    for item in items:
        if not isinstance(item, str):
            _fail(f"{field} entries must be strings, not {_json_type(item)}", where)
    return [str(i) for i in items]


def _parse_action(text: str, kind: PolicyKind, where: str) -> Glob:
    if text != "*" and not _ACTION_RE.match(text):
        _fail(f"invalid action {text!r}: expected 'service:Action' or '*'", where)
    if kind is PolicyKind.TRUST and text != "*" and not text.lower().startswith("sts:"):
        _fail(f"a trust policy may only name sts: actions, not {text!r}", where)
    return compile_glob(text, ignore_case=True)


def _looks_like_arn(text: str) -> bool:
    return text.startswith("arn:") and text.count(":") >= 5


def _parse_resource(text: str, version: str, where: str) -> Template:
    # A trailing-wildcard prefix such as "arn:aws:chime:*" is a usable pattern; anything else that
    # is not "*" must have the six ARN components, or it could never match a real resource.
    if text != "*" and not _looks_like_arn(text) and not (text.startswith("arn:") and "*" in text):
        _fail(f'Resource {text} must be in ARN format or "*"', where)
    return _parse_template(text, variables=version == VERSION_2012, wildcards=True, where=where)


def _one_of(
    stmt: Mapping[str, object], a: str, b: str, where: str, *, required: bool
) -> str | None:
    if a in stmt and b in stmt:
        _fail(f"a statement cannot have both {a} and {b}", where)
    if a in stmt:
        return a
    if b in stmt:
        return b
    if required:
        _fail(f"missing required field {a} (or {b})", where)
    return None


def _parse_statement(raw: object, index: int, version: str, kind: PolicyKind) -> Statement:
    where = f"statement {index}"
    if not isinstance(raw, dict):
        _fail(f"a statement must be an object, not {_json_type(raw)}", where)
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            _fail("Sid must be a string", where)
        where = f"statement {index} (Sid {sid!r})"
    unknown = sorted(set(raw) - _STATEMENT_FIELDS)
    if unknown:
        _fail(f"unknown statement field: {unknown[0]}", where)

    effect_raw = raw.get("Effect")
    if effect_raw == "Allow":
        effect = Effect.ALLOW
    elif effect_raw == "Deny":
        effect = Effect.DENY
    elif effect_raw is None:
        _fail("missing required field Effect", where)
    else:
        _fail(f'invalid Effect {effect_raw!r}: expected "Allow" or "Deny"', where)

    action_field = _one_of(raw, "Action", "NotAction", where, required=True)
    assert action_field is not None
    patterns = _str_list(raw[action_field], action_field, where)
    actions = tuple(_parse_action(a, kind, where) for a in patterns)

    resource_field = _one_of(
        raw, "Resource", "NotResource", where, required=kind is PolicyKind.IDENTITY
    )
    resources: tuple[Template, ...] | None = None
    if resource_field is not None:
        if kind is PolicyKind.TRUST:
            _fail(f"a trust policy has prohibited field {resource_field}", where)
        resources = tuple(
            _parse_resource(r, version, where)
            for r in _str_list(raw[resource_field], resource_field, where)
        )

    principal_field = _one_of(
        raw, "Principal", "NotPrincipal", where, required=kind is PolicyKind.TRUST
    )
    principal: PrincipalSet | None = None
    if principal_field is not None:
        if kind is PolicyKind.IDENTITY:
            _fail(f"an identity policy has prohibited field {principal_field}", where)
        if principal_field == "NotPrincipal" and effect is Effect.ALLOW:
            # "Allow everyone except X" is almost always a mistake; AWS advises against it.
            _fail("NotPrincipal is only supported with Effect Deny", where)
        principal = _parse_principal(raw[principal_field], where)

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        conditions = _parse_conditions(raw["Condition"], version, where)

    return Statement(
        index=index,
        sid=sid,
        effect=effect,
        actions=actions,
        action_patterns=tuple(patterns),
        not_action=action_field == "NotAction",
        resources=resources,
        not_resource=resource_field == "NotResource",
        principal=principal,
        not_principal=principal_field == "NotPrincipal",
        conditions=conditions,
    )


def parse_policy(
    text: str,
    *,
    name: str = "",
    kind: PolicyKind = PolicyKind.IDENTITY,
    max_size: int = MAX_ROLE_INLINE,
) -> Policy:
    """Parse and validate a policy document; raise :class:`MalformedPolicyDocument` if invalid."""
    if not isinstance(text, str):
        raise MalformedPolicyDocument("Policy document must be text")
    if len(text) > 4 * max_size + 1024 or _size(text) > max_size:
        raise MalformedPolicyDocument(
            f"Policy document exceeds the maximum size of {max_size} non-whitespace characters"
        )
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as exc:
        raise MalformedPolicyDocument(f"Policy document has a duplicate key: {exc.key}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise MalformedPolicyDocument(f"Policy document is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedPolicyDocument("Policy document must be a JSON object")
    unknown = sorted(set(doc) - _TOP_FIELDS)
    if unknown:
        raise MalformedPolicyDocument(f"Policy document has an unknown field: {unknown[0]}")

    version = doc.get("Version", VERSION_2008)
    if version not in (VERSION_2012, VERSION_2008):
        raise MalformedPolicyDocument(
            f'Policy document has an unsupported Version {version!r}: use "{VERSION_2012}"'
        )
    policy_id = doc.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        raise MalformedPolicyDocument("Policy document Id must be a string")
    if "Statement" not in doc:
        raise MalformedPolicyDocument("Policy document is missing the Statement field")
    raw_statements = doc["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise MalformedPolicyDocument(
            "Policy document Statement must be a non-empty list or object"
        )

    statements = tuple(_parse_statement(s, i, version, kind) for i, s in enumerate(raw_statements))
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocument("Policy document has duplicate statement ids (Sid)")
    return Policy(name, kind, version, policy_id, statements, text)


# --- helpers -----------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Python keeps the last duplicate; another parser may keep the first. Refuse the ambiguity.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def _size(text: str) -> int:
    # IAM does not count white space against the quota.
    return sum(1 for ch in text if not ch.isspace())


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _fail(problem: str, where: str) -> NoReturn:
    raise MalformedPolicyDocument(f"{problem} ({where})")
