"""The frame every Chime operation runs in: its call context, its result and the registry.

An operation is a plain function ``(tx, call, params) -> Result`` registered under its API name.
It runs entirely inside one store transaction (reads on a snapshot, writes in the writer), so a
rule check and the change it guards can never interleave with another request.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bellwire.aws.errors import BadRequest, Conflict
from bellwire.domain.delivery import BusEvent
from bellwire.store.base import Tx

DEFAULT_PAGE = 50


@dataclass(frozen=True, slots=True)
class Call:
    region: str
    account_id: str
    now: float
    request_id: str = ""
    caller_is_admin_backend: bool = True  # IAM principals act for the app backend


@dataclass(slots=True)
class Result:
    output: dict[str, Any]
    events: list[BusEvent] = field(default_factory=list)


Operation = Callable[[Tx, Call, dict[str, Any]], Result]


@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    fn: Operation
    writes: bool


REGISTRY: dict[str, Registered] = {}


def operation(name: str, *, writes: bool) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        if name in REGISTRY:
            raise RuntimeError(f"operation {name} registered twice")
        REGISTRY[name] = Registered(name, fn, writes)
        return fn

    return register


# --- pagination --------------------------------------------------------------------------------

K = TypeVar("K")
R = TypeVar("R")


def page_size(params: dict[str, Any]) -> int:
    return int(params.get("MaxResults") or DEFAULT_PAGE)


def decode_token(params: dict[str, Any], kind: type[K]) -> K | None:
    """The position a NextToken stands for; a token we did not issue is a client error."""
    token = params.get("NextToken")
    if token is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        valid = isinstance(value, kind) and _storable(value)
    except (ValueError, RecursionError):  # a forged token: not base64, not JSON, too deep
        valid = False
    if not valid:
        raise BadRequest(
            "The NextToken is not valid: pass back a NextToken from a previous answer."
        )
    return value  # type: ignore[no-any-return]


def _storable(value: object) -> bool:
    """A decoded position the store can bind: a 64-bit integer, or a string without lone
    surrogates (a forged token would otherwise fail inside the database driver: a 500)."""
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
    return True


def encode_token(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def paginate(
    rows: Sequence[R], limit: int, position: Callable[[R], object]
) -> tuple[Sequence[R], str | None]:
    """``rows`` was fetched with ``limit + 1``: the extra row only says there is more."""
    if len(rows) > limit:
        kept = rows[:limit]
        return kept, encode_token(position(kept[-1]))
    return rows, None


# --- idempotency -------------------------------------------------------------------------------


def fingerprint(params: dict[str, Any], *, exclude: Sequence[str] = ("ClientRequestToken",)) -> str:
    body = {k: v for k, v in params.items() if k not in exclude}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def replay(
    tx: Tx,
    scope: str,
    params: dict[str, Any],
    alive: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any] | None:
    """The answer already given for this ClientRequestToken, if any (same token → same result).

    Reusing a token with different parameters is a Conflict, as the AWS API standard has it.
    When what the first call created is gone again (``alive`` says no), the token is forgotten
    and the call runs anew: a retry must not answer with a deleted resource."""
    token = params.get("ClientRequestToken")
    if not token:
        return None
    found = tx.idempotent_result(scope, token)
    if found is None:
        return None
    previous_fingerprint, output = found
    if previous_fingerprint != fingerprint(params):
        raise Conflict(
            f"The ClientRequestToken {token!r} was already used with different parameters."
        )
    result: dict[str, Any] = output
    if alive is not None and not alive(result):
        tx.forget_result(scope, token)
        return None
    return result


def remember(
    tx: Tx, call: Call, scope: str, params: dict[str, Any], output: dict[str, Any]
) -> None:
    token = params.get("ClientRequestToken")
    if token:
        tx.remember_result(scope, token, fingerprint(params), output, call.now)
