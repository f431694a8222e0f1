"""The one authorization decision every request goes through: may this principal perform
this action on each of these resources? Root may do everything; everyone else needs an Allow
from its policies (and, for a role session with a session policy, from that too) and no Deny.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bellwire.aws.errors import AccessDenied
from bellwire.iam.principal import Principal

Facts = Mapping[str, str | Sequence[str]]


def denial(principal: Principal, action: str, resource: str, reason: str) -> AccessDenied:
    return AccessDenied(
        f"User: {principal.arn} is not authorized to perform: {action} on resource: "
        f"{resource} because {reason}"
    )


def authorize(
    principal: Principal, action: str, resources: Sequence[str], facts: Facts | None = None
) -> None:
    """Raise AccessDenied naming principal, action and resource unless every resource is allowed."""
    if principal.is_root:
        return
    for resource in resources or ("*",):
        raise denial(principal, action, resource, "no identity-based policy allows the action")
