"""The one authorization decision every request goes through: may this principal perform
this action on each of these resources? Root may do everything; everyone else needs an Allow
from its policies (and, for a role session with a session policy, from that too) and no Deny.

The principal carries its *current* parsed policies (the credential index rebuilds principals
after every IAM change), so a PutRolePolicy applies to sessions already issued, as in AWS.
Request facts come in two halves: what the transport knows (source address, TLS), given by the
caller (:func:`transport_facts`), and what the principal is (user name, tags ...), derived here
so that a caller cannot forge them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from bellwire.aws.errors import AccessDenied
from bellwire.iam.evaluate import Decision, Outcome, RequestContext, evaluate
from bellwire.iam.principal import Principal

Facts = Mapping[str, str | Sequence[str]]

_PRINCIPAL_TYPES = {"root": "Account", "user": "User", "assumed-role": "AssumedRole"}


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def transport_facts(remote: str | None, secure: bool) -> dict[str, str]:
    """aws:SourceIp and aws:SecureTransport of one request (the peer as the socket sees it)."""
    facts = {"aws:SecureTransport": "true" if secure else "false"}
    if remote:
        facts["aws:SourceIp"] = remote
    return facts


def principal_facts(principal: Principal) -> dict[str, str | Sequence[str]]:
    """The global condition keys that describe who is asking."""
    facts: dict[str, str | Sequence[str]] = {
        # For a role session AWS gives the *role's* ARN here, not the session's.
        "aws:PrincipalArn": principal.role_arn or principal.arn,
        "aws:PrincipalAccount": principal.account_id,
        "aws:PrincipalType": _PRINCIPAL_TYPES.get(principal.kind, principal.kind),
        "aws:userid": principal.user_id,
    }
    if principal.kind == "user":
        facts["aws:username"] = principal.name
    for key, value in principal.tags.items():
        facts[f"aws:PrincipalTag/{key}"] = value
    if principal.token_issued is not None:
        facts["aws:TokenIssueTime"] = _iso(principal.token_issued)
    return facts


def context_keys(
    principal: Principal, facts: Facts | None = None, now: float | None = None
) -> dict[str, str | Sequence[str]]:
    moment = time.time() if now is None else now
    keys: dict[str, str | Sequence[str]] = {
        "aws:CurrentTime": _iso(moment),
        "aws:EpochTime": str(int(moment)),
    }
    keys.update(facts or {})
    keys.update(principal_facts(principal))  # last: the caller's facts cannot override them
    return keys


def decide(
    principal: Principal,
    action: str,
    resource: str,
    facts: Facts | None = None,
    *,
    now: float | None = None,
) -> Decision:
    """The engine's decision for one resource (root is not special-cased here)."""
    ctx = RequestContext(
        action, resource, context_keys(principal, facts, now), principal_arn=principal.arn
    )
    return evaluate(principal.policies, ctx, session_policies=principal.session_policies)


def reason(decision: Decision) -> str:
    """The tail of AWS's AccessDenied message for a decision that is not an Allow."""
    if decision.outcome is Outcome.DENY:
        where = (
            "a session policy"
            if decision.statement and decision.statement.session
            else "an identity-based policy"
        )
        return f"with an explicit deny in {where}"
    if decision.session_evaluated and decision.statement is not None:
        return f"because no session policy allows the {decision.action} action"
    return f"because no identity-based policy allows the {decision.action} action"


def denial(principal: Principal, action: str, resource: str, why: str) -> AccessDenied:
    return AccessDenied(
        f"User: {principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource} {why}"
    )


def authorize(
    principal: Principal,
    action: str,
    resources: Sequence[str],
    facts: Facts | None = None,
    *,
    now: float | None = None,
) -> None:
    """Raise AccessDenied naming principal, action and resource unless every resource is allowed.

    ``facts`` are the transport's condition keys (see :func:`transport_facts`)."""
    if principal.is_root:
        return
    keys = context_keys(principal, facts, now)
    for resource in resources or ("*",):
        ctx = RequestContext(action, resource, keys, principal_arn=principal.arn)
        decision = evaluate(principal.policies, ctx, session_policies=principal.session_policies)
        if not decision.allowed:
            raise denial(principal, action, resource, reason(decision))
