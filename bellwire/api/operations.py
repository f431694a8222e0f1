"""Running a registered operation: the one authorization step and the one store transaction.

Both wire shells (rest-json for the Chime SDK services, the query protocol for IAM and STS) hand
a decoded request here; what comes back is the operation's output or an :class:`AwsError` that
the shell writes in its protocol. An operation of the installed botocore model that the registry
lacks (a newer botocore adds some) answers the service's modeled refusal, never a 500.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from bellwire import __version__
from bellwire.aws.errors import AwsError, BadRequest, InvalidAction
from bellwire.domain import export, operations
from bellwire.domain.elastic import ElasticLimits
from bellwire.domain.iam import add_access_key, put_policy, update_role
from bellwire.domain.operation import AnyResult, Call, IamContext, Registered
from bellwire.iam.authorize import Facts, authorize
from bellwire.iam.principal import Principal
from bellwire.resources import ResourceMap
from bellwire.store.base import IamTx, Store
from bellwire.store.deadlines import Deadlines


def find(service: str, name: str) -> Registered:
    """The registered operation, or the service's modeled refusal of one it does not serve."""
    registered = operations.REGISTRY.get((service, name))
    if registered is None:
        raise refusal(service, name)
    return registered


def refusal(service: str, name: str) -> AwsError:
    if service == "chime":
        return BadRequest(f"{name} is not supported by this server (bellwire {__version__}).")
    return InvalidAction(f"The operation {name} is not supported by this server.")


class Operations:
    """Authorize and run registered operations against one store."""

    def __init__(
        self,
        store: Store,
        *,
        region: str,
        account_id: str,
        iam: IamContext,
        committed: Callable[[AnyResult], None],
        endpoint_host: Callable[[], str] = str,
        now: Callable[[], float] = time.time,
        resources: ResourceMap | None = None,
        elastic: ElasticLimits | None = None,
        flow_max_processors: int = 3,
        node: str = "",
        timeout: float = 0.0,
    ) -> None:
        """``committed`` takes each committed write's result (its events and IAM changes), in
        commit order, before the caller resumes. ``timeout``: how long ``run`` waits for the
        store (0: as long as it takes)."""
        self._deadlines = Deadlines(timeout)
        self._store = store
        self._committed = committed
        self._region = region
        self._account_id = account_id
        self._iam = iam
        self._endpoint_host = endpoint_host
        self._now = now
        self._resources = resources if resources is not None else ResourceMap()
        self._elastic = elastic or ElasticLimits()
        self._flow_max_processors = flow_max_processors
        self._node = node

    def call_of(
        self, principal: Principal | None, facts: Facts | None, request_id: str = ""
    ) -> Call:
        # Millisecond timestamps (as AWS keeps them): a timestamp a client got back (a JS Date,
        # a botocore datetime) then names the same instant exactly in not-before/not-after.
        return Call(
            self._region,
            self._account_id,
            round(self._now(), 3),
            request_id,
            principal=principal,
            facts=facts,
            session_endpoint=self._endpoint_host,
            iam=self._iam,
            resources=self._resources,
            elastic=self._elastic,
            flow_max_processors=self._flow_max_processors,
            node=self._node,
        )

    async def run(
        self,
        registered: Registered,
        principal: Principal,
        params: dict[str, Any],
        facts: Facts | None,
        request_id: str = "",
    ) -> Mapping[str, Any]:
        """Authorize ``<service>:<Operation>`` on the operation's resources, then run it in one
        store transaction; its events and IAM changes are applied (``committed``) before this
        returns."""
        call = self.call_of(principal, facts, request_id)
        if registered.resources is not None:
            authorize(principal, registered.action, registered.resources(call, params), facts)
        channel = params.get("ChannelArn")
        return (
            await self._deadlines.wait(
                self._transact(
                    registered.writes,
                    lambda tx: registered.fn(tx, call, params),
                    channel if isinstance(channel, str) else None,
                    ahead=registered.ahead,
                )
            )
        ).output

    async def _transact(
        self,
        writes: bool,
        unit: Callable[[IamTx], AnyResult],
        key: str | None = None,
        *,
        ahead: bool = False,
    ) -> AnyResult:
        if writes:
            staged = export.staged(unit, self._now)
            return await self._store.write(
                functools.partial(_versioned, staged), self._committed, key=key, ahead=ahead
            )
        return await self._store.read(unit)

    # --- the server's own IAM writes (the [iam] declarations of the TOML file) -------------------

    def _as_root(self) -> Call:
        return self.call_of(self._iam.credentials.root.principal, None)

    async def create_user(self, params: dict[str, Any]) -> AnyResult:
        return await self._root_call("CreateUser", params)

    async def create_role(self, params: dict[str, Any]) -> AnyResult:
        return await self._root_call("CreateRole", params)

    async def _root_call(self, name: str, params: dict[str, Any]) -> AnyResult:
        registered, call = find("iam", name), self._as_root()
        return await self._transact(True, lambda tx: registered.fn(tx, call, params))

    async def add_access_key(self, name: str, access_key_id: str, secret: str) -> AnyResult:
        call = self._as_root()
        return await self._transact(
            True, lambda tx: add_access_key(tx, call, name, access_key_id, secret)
        )

    async def store_user_policy(self, name: str, policy_name: str, document: str) -> AnyResult:
        return await self._transact(
            True, lambda tx: put_policy(tx, "user", name, policy_name, document)
        )

    async def store_role_policy(self, name: str, policy_name: str, document: str) -> AnyResult:
        return await self._transact(
            True, lambda tx: put_policy(tx, "role", name, policy_name, document)
        )

    async def update_role(self, name: str, *, trust_policy: str, max_session: int) -> AnyResult:
        return await self._transact(
            True,
            lambda tx: update_role(tx, name, trust_policy=trust_policy, max_session=max_session),
        )


def _versioned(unit: Callable[[IamTx], AnyResult], tx: IamTx) -> AnyResult:
    """An IAM change takes the store's next IAM version in its own transaction: the order in
    which every node's credential index applies it, and how a node notices one it missed."""
    result = unit(tx)
    if result.iam is None:
        return result
    return replace(result, iam=replace(result.iam, version=tx.next_iam_version()))
