"""Evaluate parsed policies against one request, following AWS's documented logic.

Pure: no I/O and no clock. Time, source address, tags and the principal's identity all arrive in
:class:`RequestContext`. The result is a :class:`Decision` that can say which statement decided.

Order of evaluation (AWS "policy evaluation logic", identity side):

1. An applicable ``Deny`` statement in any identity or session policy denies (explicit deny).
2. Otherwise an applicable ``Allow`` in the identity policies is needed, and, when the caller is a
   session with a session policy, also one in the session policies (intersection).
3. Otherwise the request is implicitly denied.

Semantics chosen where AWS leaves room (also in the final report):

* A key missing from the context (or given as an empty list) makes positive operators false,
  negated ones true; ``...IfExists`` makes it true; ``ForAllValues`` true, ``ForAnyValue`` false;
  ``Null: true`` true.
* Without a set qualifier, a multivalued context key is read as AWS does for single-valued
  operators in practice: a positive operator holds if *any* request value matches, a negated one
  if *none* does.
* A request value that is not of the operator's type (``"abc"`` for ``NumericLessThan``, ``"x"``
  for ``IpAddress``) satisfies neither the operator nor its negation for that value.
* A policy variable that cannot be resolved makes that value (or resource) match nothing; for a
  negated operator or ``NotResource`` "matches nothing" therefore means the negation holds.
* ``Resource`` patterns glob over the whole ARN (``*`` may span ``:`` and ``/``); ``Arn*``
  condition operators compare the six ARN components separately, as AWS documents.
* A role ARN in ``Principal`` also matches that role's sessions
  (``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``); in ``NotPrincipal`` it does not, as AWS
  documents (list the session ARN explicitly).
* ``session_policies=None`` means "no session policy"; an empty sequence means a session policy
  that allows nothing, so every request is implicitly denied (fail closed).
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bellwire.iam.policy import (
    Compare,
    Condition,
    ConditionValue,
    Effect,
    Family,
    Policy,
    PrincipalSet,
    SetQualifier,
    Statement,
    Template,
    parse_date,
    parse_number,
)
from bellwire.iam.wildcard import Glob, Wild

__all__ = [
    "Decision",
    "Outcome",
    "RequestContext",
    "StatementRef",
    "condition_holds",
    "evaluate",
    "statement_applies",
]

ContextValue = str | Sequence[str]


@dataclass(frozen=True)
class RequestContext:
    """What is being asked: ``action`` (``chime:SendChannelMessage``), ``resource`` (an ARN, or
    the role ARN for a trust policy), the condition keys (names case-insensitive; a ``str`` is a
    single value, any other sequence a multivalued key), and, for trust policies, who asks."""

    action: str
    resource: str
    keys: Mapping[str, ContextValue] = field(default_factory=dict)
    principal_arn: str | None = None
    principal_service: str | None = None  # e.g. "chime.amazonaws.com" for service principals
    _norm: Mapping[str, str | tuple[str, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _action_lower: str = field(init=False, repr=False, compare=False, default="")

    def __post_init__(self) -> None:
        norm: dict[str, str | tuple[str, ...]] = {}
        for key, value in self.keys.items():
            norm[key.lower()] = value if isinstance(value, str) else tuple(value)
        # Frozen for callers; these caches are filled exactly once, here.
        object.__setattr__(self, "_norm", norm)
        object.__setattr__(self, "_action_lower", self.action.lower())

    def lookup(self, key: str) -> str | tuple[str, ...] | None:
        """The value of a lower-cased condition key, or ``None`` if absent."""
        return self._norm.get(key)

    def values(self, key: str) -> tuple[str, ...] | None:
        """The key's values as a tuple; ``None`` when absent or an empty list."""
        value = self._norm.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        return value or None


class Outcome(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Where a statement lives: the policy (name and position in the list given to
    :func:`evaluate`), the statement's index and Sid, and whether it came from a session policy."""

    policy_name: str
    policy_index: int
    statement_index: int
    sid: str | None
    effect: Effect
    session: bool = False

    def __str__(self) -> str:
        kind = "session policy" if self.session else "policy"
        policy = (
            f'{kind} "{self.policy_name}"' if self.policy_name else f"{kind} #{self.policy_index}"
        )
        sid = f' (Sid "{self.sid}")' if self.sid else ""
        return f"{policy} statement #{self.statement_index}{sid}"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome and the statements that produced it.

    ``statement`` is the explicit Deny, or the identity-policy Allow; ``session_statement`` the
    session-policy Allow when session policies were evaluated. For an implicit deny either may be
    set, which tells *which side* of the intersection was missing.
    """

    outcome: Outcome
    action: str
    resource: str
    statement: StatementRef | None = None
    session_statement: StatementRef | None = None
    session_evaluated: bool = False

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def explain(self) -> str:
        what = f"{self.action} on {self.resource}"
        if self.outcome is Outcome.DENY:
            return f"Deny: {what} is explicitly denied by {self.statement}."
        if self.outcome is Outcome.ALLOW:
            text = f"Allow: {what} is allowed by {self.statement}"
            if self.session_evaluated:
                text += f" and by {self.session_statement}"
            return text + "."
        if not self.session_evaluated:
            return f"ImplicitDeny: no statement allows {what}."
        if self.statement is not None:
            return (
                f"ImplicitDeny: {self.statement} allows {what}, but no session policy statement "
                "does (a session policy limits what the session may do)."
            )
        if self.session_statement is not None:
            return (
                f"ImplicitDeny: {self.session_statement} allows {what}, but no identity policy "
                "statement does (a session policy grants nothing by itself)."
            )
        return f"ImplicitDeny: neither an identity nor a session policy statement allows {what}."


# --- evaluation --------------------------------------------------------------------------------


def evaluate(
    policies: Sequence[Policy],
    ctx: RequestContext,
    *,
    session_policies: Sequence[Policy] | None = None,
) -> Decision:
    """Decide ``ctx`` against identity (or trust) ``policies`` and optional session policies."""
    groups: list[tuple[Sequence[Policy], bool]] = [(policies, False)]
    if session_policies is not None:
        groups.append((session_policies, True))

    allows: dict[bool, StatementRef] = {}
    for group, is_session in groups:
        for p_index, policy in enumerate(group):
            for stmt in policy.statements:
                # A Deny always needs checking; an Allow only until this side has one.
                if stmt.effect is Effect.ALLOW and is_session in allows:
                    continue
                if not statement_applies(stmt, ctx):
                    continue
                ref = StatementRef(
                    policy.name, p_index, stmt.index, stmt.sid, stmt.effect, is_session
                )
                if stmt.effect is Effect.DENY:
                    return Decision(Outcome.DENY, ctx.action, ctx.resource, ref)
                allows[is_session] = ref

    identity, session = allows.get(False), allows.get(True)
    with_session = session_policies is not None
    allowed = identity is not None and (session is not None or not with_session)
    return Decision(
        Outcome.ALLOW if allowed else Outcome.IMPLICIT_DENY,
        ctx.action,
        ctx.resource,
        identity,
        session,
        with_session,
    )


def statement_applies(stmt: Statement, ctx: RequestContext) -> bool:
    """Whether the statement's action, resource/principal and conditions all match ``ctx``."""
    action = ctx._action_lower
    if any(g.match(action) for g in stmt.actions) == stmt.not_action:
        return False
    if stmt.resources is not None:
        hit = any(_resource_matches(t, ctx) for t in stmt.resources)
        if hit == stmt.not_resource:
            return False
    if stmt.principal is not None:
        hit = _principal_matches(stmt.principal, ctx, role_sessions=not stmt.not_principal)
        if hit == stmt.not_principal:
            return False
    return all(condition_holds(c, ctx) for c in stmt.conditions)


def _resource_matches(tpl: Template, ctx: RequestContext) -> bool:
    glob = tpl.static_glob
    if glob is None:
        rendered = tpl.render(ctx.lookup)
        if rendered is None:
            return False
        glob = _glob(rendered)
    return glob.match(ctx.resource)


@functools.lru_cache(maxsize=4096)
def _glob(parts: tuple[str | Wild, ...]) -> Glob:
    # Rendered templates repeat across requests of one user; compile each distinct one once.
    return Glob.from_parts(parts)


# --- principals --------------------------------------------------------------------------------


def _arn_parts(arn: str) -> list[str] | None:
    parts = arn.split(":", 5)
    return parts if len(parts) == 6 and parts[0] == "arn" else None


def _principal_matches(p: PrincipalSet, ctx: RequestContext, *, role_sessions: bool) -> bool:
    if p.anyone:
        return True
    if ctx.principal_service is not None and ctx.principal_service in p.services:
        return True
    arn = ctx.principal_arn
    if arn is None:
        return False
    if arn in p.arns:
        return True
    parts = _arn_parts(arn)
    if parts is None:
        return False
    if parts[4] in p.accounts:
        return True
    if role_sessions and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role_name = parts[5].split("/")[1]
        for candidate in p.arns:
            c = _arn_parts(candidate)
            if (
                c is not None
                and c[2] == "iam"
                and c[1] == parts[1]
                and c[4] == parts[4]
                and c[5].startswith("role/")
                and c[5].rsplit("/", 1)[1] == role_name
            ):
                return True
    return False


# --- conditions --------------------------------------------------------------------------------


def condition_holds(cond: Condition, ctx: RequestContext) -> bool:
    """Evaluate one ``operator: {key: values}`` pair (values ORed, or NORed when negated)."""
    values = ctx.values(cond.key)
    spec = cond.spec
    if spec.family is Family.NULL:
        # Null: true means "the key is absent"; several values are ORed like any other.
        return any(v is (values is None) for v in cond.values)
    if values is None:
        if cond.if_exists or cond.qualifier is SetQualifier.FOR_ALL_VALUES:
            return True
        if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
            return False
        return spec.negated

    def holds(value: str) -> bool:
        hit = _matches_any(cond, value, ctx)
        if hit is None:  # not of the operator's type: satisfies neither polarity
            return False
        return hit != spec.negated

    if cond.qualifier is SetQualifier.FOR_ANY_VALUE:
        return any(holds(v) for v in values)
    if cond.qualifier is SetQualifier.FOR_ALL_VALUES:
        return all(holds(v) for v in values)
    if spec.negated:
        return all(holds(v) for v in values)
    return any(holds(v) for v in values)


def _matches_any(cond: Condition, value: str, ctx: RequestContext) -> bool | None:
    """Does the request ``value`` match any policy value (positive sense)? ``None`` when the
    request value is not of the operator family's type."""
    fam = cond.spec.family
    if fam is Family.STRING:
        return any(_text(t, ctx) == value for t in _templates(cond.values))
    if fam is Family.STRING_IGNORE_CASE:
        low = value.lower()
        for t in _templates(cond.values):
            text = _text(t, ctx)
            if text is not None and text.lower() == low:
                return True
        return False
    if fam is Family.STRING_LIKE:
        for t in _templates(cond.values):
            glob = t.static_glob
            if glob is None:
                rendered = t.render(ctx.lookup)
                glob = None if rendered is None else _glob(rendered)
            if glob is not None and glob.match(value):
                return True
        return False
    if fam is Family.ARN:
        req = _arn_parts(value)
        if req is None:
            return None
        for t in _templates(cond.values):
            rendered = t.render(ctx.lookup)
            if rendered is None:
                continue
            globs = _arn_globs(rendered)
            if globs is not None and all(g.match(c) for g, c in zip(globs, req, strict=True)):
                return True
        return False
    if fam is Family.NUMERIC:
        num = parse_number(value)
        if num is None:
            return None
        return any(
            _compare(cond.spec.compare, num, v) for v in cond.values if isinstance(v, Decimal)
        )
    if fam is Family.DATE:
        when = parse_date(value)
        if when is None:
            return None
        return any(
            _compare(cond.spec.compare, when, v)
            for v in cond.values
            if isinstance(v, int) and not isinstance(v, bool)
        )
    if fam is Family.BOOL:
        low = value.lower()
        if low not in ("true", "false"):
            return None
        return any(v is (low == "true") for v in cond.values)
    assert fam is Family.IP
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    return any(
        addr in v
        for v in cond.values
        if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network)
    )


def _templates(values: Sequence[ConditionValue]) -> list[Template]:
    return [v for v in values if isinstance(v, Template)]


def _text(tpl: Template, ctx: RequestContext) -> str | None:
    return tpl.text(ctx.lookup)


@functools.lru_cache(maxsize=4096)
def _arn_globs(parts: tuple[str | Wild, ...]) -> tuple[Glob, ...] | None:
    """Split a rendered ARN pattern into its six ``:``-separated components, each a glob."""
    components: list[list[str | Wild]] = [[]]
    for part in parts:
        if isinstance(part, str) and len(components) < 6 and ":" in part:
            pieces = part.split(":", 6 - len(components))
            components[-1].append(pieces[0])
            components.extend([p] for p in pieces[1:])
        else:
            components[-1].append(part)
    head = components[0]
    if (
        len(components) != 6
        or not all(isinstance(p, str) for p in head)
        or "".join(map(str, head)) != "arn"
    ):
        return None
    return tuple(Glob.from_parts(c) for c in components)


def _compare(op: Compare, left: Decimal | int, right: Decimal | int) -> bool:
    if op is Compare.EQ:
        return left == right
    if op is Compare.LT:
        return left < right
    if op is Compare.LE:
        return left <= right
    if op is Compare.GT:
        return left > right
    return left >= right
