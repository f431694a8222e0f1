"""Pure: the policy simulator's principal and its explained answer.

The decision is the one ``iam/authorize.py`` makes for a request (``decide``, the same engine,
the same condition keys); what is added here is only the explanation: the deciding statement,
the policies evaluated and, for a denial, AWS's reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bellwire.aws.errors import NotFound
from bellwire.iam.authorize import Facts, decide, reason
from bellwire.iam.credentials import CredentialIndex, assumed_role_arn
from bellwire.iam.principal import Principal

SESSION = "console-simulation"  # the session name a simulated role session carries

Rows = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Answer:
    allowed: bool
    rows: Rows


def principal_of(credentials: CredentialIndex, account: str, kind: str, name: str) -> Principal:
    """The principal to simulate: root, an IAM user as its keys act, or a session of a role."""
    if kind == "root":
        return credentials.root.principal
    if kind == "user":
        found = credentials.user_principal(name)
        if found is None:
            raise NotFound(f"There is no IAM user {name}.")
        return found
    role = credentials.role(name)
    if role is None:
        raise NotFound(f"There is no IAM role {name}.")
    return Principal(
        arn=assumed_role_arn(account, role.role.name, SESSION),
        account_id=account,
        kind="assumed-role",
        user_id=f"{role.role.role_id}:{SESSION}",
        name=SESSION,
        tags=dict(role.role.tags),
        policies=role.policies,
        role_arn=role.role.arn(account),
    )


def explain(
    target: Principal, action: str, resource: str, facts: Facts, now: float | None = None
) -> Answer:
    if target.is_root:
        return Answer(
            True,
            [
                ("Principal", target.arn),
                ("Action", action),
                ("Resource", resource),
                ("Explanation", "The root user may perform every action on every resource."),
            ],
        )
    decision = decide(target, action, resource, facts, now=now)
    rows = [
        ("Principal", target.arn),
        ("Action", decision.action),
        ("Resource", decision.resource),
        ("Outcome", decision.outcome.value),
        ("Deciding statement", str(decision.statement) if decision.statement else "none"),
    ]
    if decision.session_evaluated:
        rows.append(("Session policy statement", str(decision.session_statement or "none")))
    rows.append(
        (
            "Explanation",
            f"allowed by {decision.statement}"
            if decision.allowed and decision.statement
            else f"denied {reason(decision)}",
        )
    )
    evaluated = [getattr(p, "name", "") or f"#{i}" for i, p in enumerate(target.policies)]
    rows.append(("Policies evaluated", ", ".join(evaluated) or "none (nothing is allowed)"))
    rows.append(("Conditions evaluated with", "this console request's source address and TLS"))
    return Answer(decision.allowed, rows)
