"""The frame every operation runs in: its call context, its result and the registry.

An operation of any of the four services (Chime SDK identity and messaging, IAM, STS) is a plain
function ``(tx, call, params) -> Result[output]`` registered under its service and API name, with how
its authorization resources are found (``bellwire.api.operations`` authorizes and runs it).
It runs entirely inside one store transaction (reads on a snapshot, writes in the writer), so a
rule check and the change it guards can never interleave with another request.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar, cast

from bellwire.aws.errors import BadRequest, Conflict
from bellwire.domain.delivery import BusEvent, StreamEvent
from bellwire.domain.elastic import ElasticLimits
from bellwire.frozen import quick_init
from bellwire.iam.authorize import Facts
from bellwire.iam.credentials import CredentialIndex
from bellwire.iam.principal import Principal
from bellwire.records.bots import BotCall, PushCall
from bellwire.records.flows import FlowInvocation
from bellwire.records.iam import IamChange
from bellwire.resources import ResourceMap
from bellwire.store.base import IamTx, Tx

DEFAULT_PAGE = 50


@dataclass(frozen=True, slots=True)
class IamContext:
    """What IAM and STS operations read besides the store: the credential index (current
    entities, parsed policies) and the configured lower bound of STS session durations."""

    credentials: CredentialIndex
    sts_min_duration: int = 900


@quick_init
@dataclass(frozen=True, slots=True)
class Call:
    region: str
    account_id: str
    now: float
    request_id: str = ""
    caller_is_admin_backend: bool = True  # IAM principals act for the app backend
    principal: Principal | None = None  # who signed the request (None: the server itself)
    facts: Facts | None = None  # the transport's condition keys
    # The messaging session endpoint's host (GetMessagingSessionEndpoint), asked when needed.
    session_endpoint: Callable[[], str] = str
    iam: IamContext | None = None
    # The [resources] map: the URLs of the AWS resources this server cannot reach.
    resources: ResourceMap = field(default_factory=ResourceMap)
    elastic: ElasticLimits = field(default_factory=ElasticLimits)  # quotas (settings)
    flow_max_processors: int = 3  # a setting: the processors a channel flow may chain
    node: str = ""  # the node serving the call: it invokes the flow processors the call reaches


# An operation's output: its generated TypedDict (bellwire/aws/shapes.py), which the codecs
# serialize against the model. Covariant, so that any Result is a Result[Mapping[str, Any]] for
# the code that only hands it on; once its unit has run (and ``export.staged`` has counted what
# it staged), nothing changes a Result.
Out_co = TypeVar("Out_co", bound=Mapping[str, Any], covariant=True)


@dataclass(slots=True)
class Result(Generic[Out_co]):
    output: Out_co
    events: list[BusEvent] = field(default_factory=list)
    # What an IAM/STS write changed, for the credential index (applied after the commit).
    iam: IamChange | None = None
    # Events only the export stream carries (bans, moderators...): domain/export.py stages
    # them, with the stream records of ``events``, in the write's own transaction.
    exports: list[StreamEvent] = field(default_factory=list)
    # Messages handed to a channel flow's processor, invoked once the write is committed.
    invocations: list[FlowInvocation] = field(default_factory=list)
    # Bots a sent message invokes, and devices it is pushed to: called once committed.
    bot_calls: list[BotCall] = field(default_factory=list)
    pushes: list[PushCall] = field(default_factory=list)
    # Streaming configurations the unit already read in its transaction (app instance ARN ->
    # {DataType: stream ARN}): staging its stream records does not read them again.
    streaming: dict[str, Mapping[str, str]] = field(default_factory=dict)
    # Stream records staged in the write's transaction (domain/export.py): only then has the
    # export relay anything new to read.
    staged: int = 0
    # Channels deleted: their messages are left to the purger (bellwire/purger.py).
    purges: bool = False


# What the registry runs: every unit of work is handed an IamTx (a Chime operation reads it as
# the Tx it needs).
Operation = Callable[[IamTx, Call, dict[str, Any]], "AnyResult"]
AnyResult = Result[Mapping[str, Any]]  # a result whose output is only handed on
P = TypeVar("P", bound=Mapping[str, Any])  # an operation's input: a TypedDict or a dict
X = TypeVar("X", bound=Tx)  # the transaction an operation reads: Tx, or IamTx for IAM/STS
Out = TypeVar("Out", bound=Mapping[str, Any])  # an operation's output: its generated TypedDict
# The ARNs an operation acts on, checked against the caller's policies as ``<service>:<name>``.
Resources = Callable[[Call, dict[str, Any]], Sequence[str]]

SERVICES: Final = ("chime", "iam", "sts")  # the IAM action prefixes; Chime spans both SDKs

# Members naming the resource a Chime operation acts on (spec §6): IAM checks chime:<Operation>
# on each of them and on the bearer. Members naming *other* users (MemberArn, ModeratorArns...)
# are governed by the bearer's channel role instead, as AWS's documented user policies imply.
RESOURCE_MEMBERS: Final = (
    "ChannelArn",
    "AppInstanceArn",
    "AppInstanceUserArn",
    "AppInstanceBotArn",
    "ChannelFlowArn",
    "ResourceARN",
    "ChimeBearer",
)


def resource_members(call: Call, params: Mapping[str, Any]) -> list[str]:
    """The Chime resources of a request: its resource members, or ``*`` when it names none."""
    found = [params[m] for m in RESOURCE_MEMBERS if isinstance(params.get(m), str)]
    return list(dict.fromkeys(found)) or ["*"]


@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    service: str  # one of SERVICES
    fn: Operation
    writes: bool
    # None: anyone authenticated may call it (GetCallerIdentity, GetSessionToken, refusals of
    # IAM operations this server does not implement).
    resources: Resources | None
    refused: bool = False  # explicitly not implemented (domain/unsupported.py)
    # Its unit's first read may be made ahead of its batch (``Store.write``): it changes
    # nothing it reads and uses nothing another such unit changes (SendChannelMessage,
    # ChannelFlowCallback).
    ahead: bool = False

    @property
    def action(self) -> str:
        return f"{self.service}:{self.name}"


# Every operation of the four services, keyed by (service, name): the one registry.
REGISTRY: dict[tuple[str, str], Registered] = {}


def operation(
    name: str,
    *,
    writes: bool,
    service: str = "chime",
    resources: Resources | None = resource_members,
    refused: bool = False,
    ahead: bool = False,
) -> Callable[[Callable[[X, Call, P], Result[Out]]], Callable[[X, Call, P], Result[Out]]]:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")

    def register(fn: Callable[[X, Call, P], Result[Out]]) -> Callable[[X, Call, P], Result[Out]]:
        if (service, name) in REGISTRY:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        # The codecs validated params against the model, which the TypedDict P is written
        # from (bellwire/aws/shapes.py): the registry holds them all as plain dicts, and their
        # outputs as mappings the codecs serialize against the same model.
        REGISTRY[(service, name)] = Registered(
            name, service, cast(Operation, fn), writes, resources, refused, ahead
        )
        return fn

    return register


# --- pagination --------------------------------------------------------------------------------

K = TypeVar("K")
R = TypeVar("R")


def page_size(params: Mapping[str, Any]) -> int:
    return int(params.get("MaxResults") or DEFAULT_PAGE)


def decode_token(params: Mapping[str, Any], kind: type[K]) -> K | None:
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


def fingerprint(
    params: Mapping[str, Any], *, exclude: Sequence[str] = ("ClientRequestToken",)
) -> str:
    body = {k: v for k, v in params.items() if k not in exclude}
    return hashlib.sha256(_FINGERPRINT_JSON.encode(body).encode()).hexdigest()


# json.dumps with arguments builds an encoder per call; this one is shared (it keeps no state
# between calls) and writes the same text.
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, default=str)


def replay(
    tx: Tx,
    scope: str,
    params: Mapping[str, Any],
    alive: Callable[[dict[str, Any]], bool] | None = None,
    *,
    output: type[Out],
    read: tuple[tuple[str, str] | None, tuple[str, Any] | None] = (None, None),
) -> Out | None:
    """The answer already given for this ClientRequestToken, if any (same token → same result):
    the operation's own ``output`` type, which ``remember`` stored.

    Reusing a token with different parameters is a Conflict, as the AWS API standard has it.
    When what the first call created is gone again (``alive`` says no), the token is forgotten
    and the call runs anew: a retry must not answer with a deleted resource. ``read``: a
    (scope, token) whose ``idempotent_result`` the unit read already, and its answer."""
    token = params.get("ClientRequestToken")
    if not token:
        return None
    key, answer = read
    found = answer if key == (scope, token) else tx.idempotent_result(scope, token)
    if found is None:
        return None
    previous_fingerprint, stored = found
    if previous_fingerprint != fingerprint(params):
        raise Conflict(
            f"The ClientRequestToken {token!r} was already used with different parameters."
        )
    result: dict[str, Any] = stored
    if alive is not None and not alive(result):
        tx.forget_result(scope, token)
        return None
    # The JSON of what remember() stored for this scope: this operation's own output.
    return cast(Out, result)


def remember(
    tx: Tx, call: Call, scope: str, params: Mapping[str, Any], output: Mapping[str, Any]
) -> None:
    token = params.get("ClientRequestToken")
    if token:
        tx.remember_result(scope, token, fingerprint(params), output, call.now)
