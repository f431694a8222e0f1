"""The IAM and STS operations bellwire serves, as boto3's ``iam`` and ``sts`` clients call them.

Each operation authorizes the caller with the policy engine (``iam:<Operation>`` on the user or
role ARN; root may do everything), validates what the model codec cannot (policies, numeric
bounds), and runs one store write whose result is an :class:`IamChange`: the store's
after-commit hook hands it to the credential index, so the next request already sees it.

Where AWS behaviour was adapted (also in the module docs of the report):

* The root user may call AssumeRole (AWS refuses root): it is how a self-hosted backend with
  only root keys issues per-user credentials, the documented Chime pattern.
* A non-root caller of AssumeRole needs ``sts:AssumeRole`` on the role from its own identity
  policies *and* the role's trust policy must allow it (the cross-account rule, applied always).
* GetCallerIdentity and GetSessionToken need no permission, as in AWS; GetSessionToken refuses
  temporary credentials, as in AWS.
* DeleteUser/DeleteRole refuse while access keys or inline policies remain (DeleteConflict);
  deleting a user or role revokes the STS sessions it issued.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bellwire.aws.errors import AccessDenied
from bellwire.iam.authorize import Facts, authorize, context_keys
from bellwire.iam.credentials import CredentialIndex, assumed_role_arn
from bellwire.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    NoSuchEntity,
    ValidationError,
)
from bellwire.iam.evaluate import RequestContext, evaluate
from bellwire.iam.keys import new_access_key_id, new_secret_access_key
from bellwire.iam.policy import (
    MAX_ROLE_INLINE,
    MAX_SESSION,
    MAX_TRUST,
    MAX_USER_INLINE,
    Policy,
    PolicyKind,
    parse_policy,
)
from bellwire.iam.principal import Principal
from bellwire.records.iam import (
    ASSUMED_ROLE,
    USER_SESSION,
    AccessKey,
    IamChange,
    IamRole,
    IamUser,
    StsSession,
    name_key,
)
from bellwire.store.base import IamTx, Store

_ID_ALPHABET: Final = string.ascii_uppercase + "234567"
MAX_KEYS_PER_USER: Final = 2  # AWS's quota
DEFAULT_MAX_ITEMS: Final = 100
DEFAULT_ROLE_SESSION: Final = 3600
ROLE_SESSION_BOUNDS: Final = (3600, 43200)  # a role's MaxSessionDuration
ROLE_CHAINING_MAX: Final = 3600  # a session assuming another role
SESSION_TOKEN_DEFAULT: Final = 43200
SESSION_TOKEN_MAX: Final = 129600
SESSION_TOKEN_ROOT_MAX: Final = 3600
# Expired sessions are kept this long so that their callers get ExpiredToken, not "invalid".
EXPIRED_RETENTION: Final = 86400.0
TOKEN_BYTES: Final = 48


def new_id(prefix: str) -> str:
    """An IAM unique id (AIDA... for users, AROA... for roles): 21 characters."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def new_session_token() -> str:
    return base64.b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _size(text: str) -> int:
    return sum(1 for ch in text if not ch.isspace())  # IAM counts non-whitespace characters


def _tags(raw: Sequence[Mapping[str, str]] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    seen: set[str] = set()
    for tag in raw or ():
        key, value = tag["Key"], tag.get("Value", "")
        if key.lower() in seen:  # tag keys are case-insensitive in IAM and STS
            raise InvalidInput(f"Duplicate tag keys found: {key}")
        seen.add(key.lower())
        tags[key] = value
    return tags


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _bounded(value: int | None, default: int, low: int, high: int, member: str) -> int:
    if value is None:
        return default
    if value < low:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {low}"
        )
    if value > high:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {high}"
        )
    return value


def _marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


def _after(marker: str | None) -> str | None:
    if marker is None:
        return None
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode()
    except (ValueError, UnicodeError):
        raise InvalidInput("Invalid Marker.") from None


def _page(
    items: list[Any], limit: int, key: Callable[[Any], str]
) -> tuple[list[Any], dict[str, Any]]:
    """Cut one page of ``limit + 1`` fetched items; the extra one says whether more follow."""
    if len(items) > limit:
        page = items[:limit]
        return page, {"IsTruncated": True, "Marker": _marker(key(page[-1]))}
    return items, {"IsTruncated": False}


@dataclass(frozen=True, slots=True)
class StsSettings:
    min_duration: int = 900


class IamApi:
    """The IAM and STS operations over one store and one credential index."""

    def __init__(
        self,
        *,
        store: Store,
        index: CredentialIndex,
        account_id: str,
        sts: StsSettings | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._index = index
        self._account = account_id
        self._sts = sts or StsSettings()
        self._now = now

    def iam_operations(self) -> dict[str, Any]:
        return {
            "CreateUser": self.create_user,
            "GetUser": self.get_user,
            "ListUsers": self.list_users,
            "DeleteUser": self.delete_user,
            "CreateAccessKey": self.create_access_key,
            "ListAccessKeys": self.list_access_keys,
            "UpdateAccessKey": self.update_access_key,
            "DeleteAccessKey": self.delete_access_key,
            "PutUserPolicy": self.put_user_policy,
            "GetUserPolicy": self.get_user_policy,
            "ListUserPolicies": self.list_user_policies,
            "DeleteUserPolicy": self.delete_user_policy,
            "CreateRole": self.create_role,
            "GetRole": self.get_role,
            "ListRoles": self.list_roles,
            "DeleteRole": self.delete_role,
            "UpdateAssumeRolePolicy": self.update_assume_role_policy,
            "PutRolePolicy": self.put_role_policy,
            "GetRolePolicy": self.get_role_policy,
            "ListRolePolicies": self.list_role_policies,
            "DeleteRolePolicy": self.delete_role_policy,
        }

    def sts_operations(self) -> dict[str, Any]:
        return {
            "AssumeRole": self.assume_role,
            "GetSessionToken": self.get_session_token,
            "GetCallerIdentity": self.get_caller_identity,
        }

    # --- helpers -------------------------------------------------------------------------------

    async def _write(self, fn: Callable[[IamTx], IamChange]) -> Mapping[str, Any]:
        def unit(tx: IamTx) -> IamChange:
            return fn(tx)

        change = await self._store.write(unit)
        return change.output

    async def _read(self, fn: Callable[[IamTx], Any]) -> Any:
        def unit(tx: IamTx) -> Any:
            return fn(tx)

        return await self._store.read(unit)

    def user_arn(self, name: str, path: str | None = None) -> str:
        if path is None:
            entry = self._index.user(name)
            path = entry.user.path if entry is not None else "/"
            name = entry.user.name if entry is not None else name
        return f"arn:aws:iam::{self._account}:user{path}{name}"

    def role_arn(self, name: str, path: str | None = None) -> str:
        if path is None:
            entry = self._index.role(name)
            path = entry.role.path if entry is not None else "/"
            name = entry.role.name if entry is not None else name
        return f"arn:aws:iam::{self._account}:role{path}{name}"

    def _target_user(self, caller: Principal, params: Mapping[str, Any]) -> str:
        """The UserName member, or the calling IAM user when it is omitted (as in AWS)."""
        name = params.get("UserName")
        if name:
            return str(name)
        if caller.kind == "user":
            return caller.name
        raise ValidationError("Must specify userName when calling with non-User credentials")

    def _user_json(self, user: IamUser, *, tags: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Path": user.path,
            "UserName": user.name,
            "UserId": user.user_id,
            "Arn": user.arn(self._account),
            "CreateDate": user.created,
        }
        if tags and user.tags:
            out["Tags"] = _tag_list(user.tags)
        return out

    def _role_json(self, role: IamRole, *, tags: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Path": role.path,
            "RoleName": role.name,
            "RoleId": role.role_id,
            "Arn": role.arn(self._account),
            "CreateDate": role.created,
            "AssumeRolePolicyDocument": role.trust_policy,
            "MaxSessionDuration": role.max_session_duration,
        }
        if role.description:
            out["Description"] = role.description
        if tags and role.tags:
            out["Tags"] = _tag_list(role.tags)
        return out

    @staticmethod
    def _no_user(name: str) -> NoSuchEntity:
        return NoSuchEntity(f"The user with name {name} cannot be found.")

    @staticmethod
    def _no_role(name: str) -> NoSuchEntity:
        return NoSuchEntity(f"The role with name {name} cannot be found.")

    @staticmethod
    def _identity_policy(text: str, name: str, max_size: int) -> Policy:
        return parse_policy(text, name=name, kind=PolicyKind.IDENTITY, max_size=max_size)

    @staticmethod
    def _path(params: Mapping[str, Any]) -> str:
        return str(params.get("Path") or "/")

    # --- users -----------------------------------------------------------------------------------

    async def create_user(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, path = params["UserName"], self._path(params)
        authorize(caller, "iam:CreateUser", [self.user_arn(name, path)], facts)
        if params.get("PermissionsBoundary"):
            raise InvalidInput("Permissions boundaries are not supported by this server.")
        tags = _tags(params.get("Tags"))
        user = IamUser(name, new_id("AIDA"), path, round(self._now(), 3), tags)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_user(name) is not None:
                raise EntityAlreadyExists(f"User with name {name} already exists.")
            tx.insert_iam_user(user)
            return IamChange(
                output={"User": self._user_json(user)},
                users={name_key(name): tx.iam_user_state(name)},
            )

        return await self._write(unit)

    async def get_user(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        if not params.get("UserName") and caller.kind == "root":
            authorize(caller, "iam:GetUser", [caller.arn], facts)
            return {"User": {"UserId": caller.user_id, "Arn": caller.arn, "Path": "/"}}
        name = self._target_user(caller, params)
        authorize(caller, "iam:GetUser", [self.user_arn(name)], facts)
        user = await self._read(lambda tx: tx.iam_user(name))
        if user is None:
            raise self._no_user(name)
        return {"User": self._user_json(user)}

    async def list_users(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        authorize(caller, "iam:ListUsers", [f"arn:aws:iam::{self._account}:user/*"], facts)
        limit = _bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
        after = _after(params.get("Marker"))
        prefix = str(params.get("PathPrefix") or "/")
        users = await self._read(lambda tx: tx.list_iam_users(prefix, after, limit + 1))
        page, more = _page(users, limit, lambda u: name_key(u.name))
        return {"Users": [self._user_json(u, tags=False) for u in page], **more}

    async def delete_user(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = params["UserName"]
        authorize(caller, "iam:DeleteUser", [self.user_arn(name)], facts)

        def unit(tx: IamTx) -> IamChange:
            user = tx.iam_user(name)
            if user is None:
                raise self._no_user(name)
            if tx.access_keys_of(name):
                raise DeleteConflict("Cannot delete entity, must delete access keys first.")
            if tx.inline_policies("user", name):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            tx.delete_iam_user(name)
            revoked = tx.delete_sts_sessions_of(USER_SESSION, name)
            return IamChange(users={name_key(name): None}, sessions_removed=tuple(revoked))

        return await self._write(unit)

    # --- access keys -----------------------------------------------------------------------------

    async def create_access_key(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = self._target_user(caller, params)
        authorize(caller, "iam:CreateAccessKey", [self.user_arn(name)], facts)
        return await self.add_access_key(name)

    async def add_access_key(
        self, name: str, access_key_id: str | None = None, secret: str | None = None
    ) -> Mapping[str, Any]:
        """Create a key (a fixed one for TOML declarations); no authorization here."""
        key = AccessKey(
            access_key_id or new_access_key_id(),
            name,
            secret or new_secret_access_key(),
            "Active",
            round(self._now(), 3),
        )

        def unit(tx: IamTx) -> IamChange:
            user = tx.iam_user(name)
            if user is None:
                raise self._no_user(name)
            if len(tx.access_keys_of(name)) >= MAX_KEYS_PER_USER:
                raise LimitExceeded(
                    f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
                )
            if tx.access_key_owner(key.access_key_id) is not None or (
                key.access_key_id in self._index
            ):
                raise EntityAlreadyExists(f"Access key {key.access_key_id} already exists.")
            tx.insert_access_key(key)
            output = {
                "AccessKey": {
                    "UserName": user.name,
                    "AccessKeyId": key.access_key_id,
                    "Status": key.status,
                    "SecretAccessKey": key.secret,
                    "CreateDate": key.created,
                }
            }
            return IamChange(output=output, users={name_key(name): tx.iam_user_state(name)})

        return await self._write(unit)

    async def list_access_keys(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = self._target_user(caller, params)
        authorize(caller, "iam:ListAccessKeys", [self.user_arn(name)], facts)
        limit = _bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
        after = _after(params.get("Marker"))

        def read(tx: IamTx) -> list[AccessKey] | None:
            if tx.iam_user(name) is None:
                return None
            return [k for k in tx.access_keys_of(name) if after is None or k.access_key_id > after]

        keys = await self._read(read)
        if keys is None:
            raise self._no_user(name)
        keys.sort(key=lambda k: k.access_key_id)
        page, more = _page(keys, limit, lambda k: k.access_key_id)
        return {
            "AccessKeyMetadata": [
                {
                    "UserName": k.user_name,
                    "AccessKeyId": k.access_key_id,
                    "Status": k.status,
                    "CreateDate": k.created,
                }
                for k in page
            ],
            **more,
        }

    def _key_unit(
        self, name: str, access_key_id: str, change: Callable[[IamTx], None]
    ) -> Callable[[IamTx], IamChange]:
        def unit(tx: IamTx) -> IamChange:
            if tx.iam_user(name) is None:
                raise self._no_user(name)
            owner = tx.access_key_owner(access_key_id)
            if owner is None or name_key(owner) != name_key(name):
                raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
            change(tx)
            return IamChange(users={name_key(name): tx.iam_user_state(name)})

        return unit

    async def update_access_key(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = self._target_user(caller, params)
        authorize(caller, "iam:UpdateAccessKey", [self.user_arn(name)], facts)
        key_id, status = params["AccessKeyId"], params["Status"]
        if status not in ("Active", "Inactive"):  # the model's enum also has "Expired"
            raise InvalidInput("Status must be Active or Inactive.")
        return await self._write(
            self._key_unit(name, key_id, lambda tx: tx.set_access_key_status(key_id, status))
        )

    async def delete_access_key(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = self._target_user(caller, params)
        authorize(caller, "iam:DeleteAccessKey", [self.user_arn(name)], facts)
        key_id = params["AccessKeyId"]
        return await self._write(
            self._key_unit(name, key_id, lambda tx: tx.delete_access_key(key_id))
        )

    # --- user policies ---------------------------------------------------------------------------

    async def put_user_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name, document = (
            params["UserName"],
            params["PolicyName"],
            params["PolicyDocument"],
        )
        authorize(caller, "iam:PutUserPolicy", [self.user_arn(name)], facts)
        return await self.store_user_policy(name, policy_name, document)

    async def store_user_policy(
        self, name: str, policy_name: str, document: str
    ) -> Mapping[str, Any]:
        self._identity_policy(document, policy_name, MAX_USER_INLINE)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_user(name) is None:
                raise self._no_user(name)
            others = tx.inline_policies("user", name)
            others.pop(policy_name, None)
            if _size(document) + sum(map(_size, others.values())) > MAX_USER_INLINE:
                raise LimitExceeded(
                    f"Maximum policy size of {MAX_USER_INLINE} bytes exceeded for user {name}"
                )
            tx.put_inline_policy("user", name, policy_name, document)
            return IamChange(users={name_key(name): tx.iam_user_state(name)})

        return await self._write(unit)

    async def get_user_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name = params["UserName"], params["PolicyName"]
        authorize(caller, "iam:GetUserPolicy", [self.user_arn(name)], facts)

        def read(tx: IamTx) -> tuple[IamUser | None, str | None]:
            return tx.iam_user(name), tx.inline_policy("user", name, policy_name)

        user, document = await self._read(read)
        if user is None:
            raise self._no_user(name)
        if document is None:
            raise NoSuchEntity(f"The user policy with name {policy_name} cannot be found.")
        return {"UserName": user.name, "PolicyName": policy_name, "PolicyDocument": document}

    async def list_user_policies(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = params["UserName"]
        authorize(caller, "iam:ListUserPolicies", [self.user_arn(name)], facts)
        return await self._list_policies("user", name, params)

    async def _list_policies(
        self, kind: str, name: str, params: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        limit = _bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
        after = _after(params.get("Marker"))

        def read(tx: IamTx) -> list[str] | None:
            owner = tx.iam_user(name) if kind == "user" else tx.iam_role(name)
            if owner is None:
                return None
            return [p for p in tx.inline_policies(kind, name) if after is None or p > after]

        names = await self._read(read)
        if names is None:
            raise self._no_user(name) if kind == "user" else self._no_role(name)
        page, more = _page(names, limit, lambda p: p)
        return {"PolicyNames": page, **more}

    async def delete_user_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name = params["UserName"], params["PolicyName"]
        authorize(caller, "iam:DeleteUserPolicy", [self.user_arn(name)], facts)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_user(name) is None:
                raise self._no_user(name)
            if tx.inline_policy("user", name, policy_name) is None:
                raise NoSuchEntity(f"The user policy with name {policy_name} cannot be found.")
            tx.delete_inline_policy("user", name, policy_name)
            return IamChange(users={name_key(name): tx.iam_user_state(name)})

        return await self._write(unit)

    # --- roles -----------------------------------------------------------------------------------

    async def create_role(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, path = params["RoleName"], self._path(params)
        authorize(caller, "iam:CreateRole", [self.role_arn(name, path)], facts)
        if params.get("PermissionsBoundary"):
            raise InvalidInput("Permissions boundaries are not supported by this server.")
        document = params["AssumeRolePolicyDocument"]
        parse_policy(document, name="trust", kind=PolicyKind.TRUST, max_size=MAX_TRUST)
        role = IamRole(
            name=name,
            role_id=new_id("AROA"),
            path=path,
            description=params.get("Description"),
            trust_policy=document,
            max_session_duration=_bounded(
                params.get("MaxSessionDuration"),
                DEFAULT_ROLE_SESSION,
                *ROLE_SESSION_BOUNDS,
                "maxSessionDuration",
            ),
            created=round(self._now(), 3),
            tags=_tags(params.get("Tags")),
        )

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_role(name) is not None:
                raise EntityAlreadyExists(f"Role with name {name} already exists.")
            tx.insert_iam_role(role)
            return IamChange(
                output={"Role": self._role_json(role)},
                roles={name_key(name): tx.iam_role_state(name)},
            )

        return await self._write(unit)

    async def get_role(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = params["RoleName"]
        authorize(caller, "iam:GetRole", [self.role_arn(name)], facts)
        role = await self._read(lambda tx: tx.iam_role(name))
        if role is None:
            raise self._no_role(name)
        return {"Role": self._role_json(role)}

    async def list_roles(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        authorize(caller, "iam:ListRoles", [f"arn:aws:iam::{self._account}:role/*"], facts)
        limit = _bounded(params.get("MaxItems"), DEFAULT_MAX_ITEMS, 1, 1000, "maxItems")
        after = _after(params.get("Marker"))
        prefix = str(params.get("PathPrefix") or "/")
        roles = await self._read(lambda tx: tx.list_iam_roles(prefix, after, limit + 1))
        page, more = _page(roles, limit, lambda r: name_key(r.name))
        return {"Roles": [self._role_json(r, tags=False) for r in page], **more}

    async def delete_role(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = params["RoleName"]
        authorize(caller, "iam:DeleteRole", [self.role_arn(name)], facts)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_role(name) is None:
                raise self._no_role(name)
            if tx.inline_policies("role", name):
                raise DeleteConflict("Cannot delete entity, must delete policies first.")
            tx.delete_iam_role(name)
            revoked = tx.delete_sts_sessions_of(ASSUMED_ROLE, name)
            return IamChange(roles={name_key(name): None}, sessions_removed=tuple(revoked))

        return await self._write(unit)

    async def update_assume_role_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, document = params["RoleName"], params["PolicyDocument"]
        authorize(caller, "iam:UpdateAssumeRolePolicy", [self.role_arn(name)], facts)
        return await self.update_role(name, trust_policy=document)

    async def update_role(
        self, name: str, *, trust_policy: str | None = None, max_session: int | None = None
    ) -> Mapping[str, Any]:
        if trust_policy is not None:
            parse_policy(trust_policy, name="trust", kind=PolicyKind.TRUST, max_size=MAX_TRUST)

        def unit(tx: IamTx) -> IamChange:
            role = tx.iam_role(name)
            if role is None:
                raise self._no_role(name)
            tx.update_iam_role(
                name,
                trust_policy=role.trust_policy if trust_policy is None else trust_policy,
                max_session_duration=max_session or role.max_session_duration,
            )
            return IamChange(roles={name_key(name): tx.iam_role_state(name)})

        return await self._write(unit)

    async def put_role_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name, document = (
            params["RoleName"],
            params["PolicyName"],
            params["PolicyDocument"],
        )
        authorize(caller, "iam:PutRolePolicy", [self.role_arn(name)], facts)
        return await self.store_role_policy(name, policy_name, document)

    async def store_role_policy(
        self, name: str, policy_name: str, document: str
    ) -> Mapping[str, Any]:
        self._identity_policy(document, policy_name, MAX_ROLE_INLINE)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_role(name) is None:
                raise self._no_role(name)
            others = tx.inline_policies("role", name)
            others.pop(policy_name, None)
            if _size(document) + sum(map(_size, others.values())) > MAX_ROLE_INLINE:
                raise LimitExceeded(
                    f"Maximum policy size of {MAX_ROLE_INLINE} bytes exceeded for role {name}"
                )
            tx.put_inline_policy("role", name, policy_name, document)
            return IamChange(roles={name_key(name): tx.iam_role_state(name)})

        return await self._write(unit)

    async def get_role_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name = params["RoleName"], params["PolicyName"]
        authorize(caller, "iam:GetRolePolicy", [self.role_arn(name)], facts)

        def read(tx: IamTx) -> tuple[IamRole | None, str | None]:
            return tx.iam_role(name), tx.inline_policy("role", name, policy_name)

        role, document = await self._read(read)
        if role is None:
            raise self._no_role(name)
        if document is None:
            raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
        return {"RoleName": role.name, "PolicyName": policy_name, "PolicyDocument": document}

    async def list_role_policies(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name = params["RoleName"]
        authorize(caller, "iam:ListRolePolicies", [self.role_arn(name)], facts)
        return await self._list_policies("role", name, params)

    async def delete_role_policy(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        name, policy_name = params["RoleName"], params["PolicyName"]
        authorize(caller, "iam:DeleteRolePolicy", [self.role_arn(name)], facts)

        def unit(tx: IamTx) -> IamChange:
            if tx.iam_role(name) is None:
                raise self._no_role(name)
            if tx.inline_policy("role", name, policy_name) is None:
                raise NoSuchEntity(f"The role policy with name {policy_name} cannot be found.")
            tx.delete_inline_policy("role", name, policy_name)
            return IamChange(roles={name_key(name): tx.iam_role_state(name)})

        return await self._write(unit)

    # --- STS -------------------------------------------------------------------------------------

    async def get_caller_identity(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        return {"UserId": caller.user_id, "Account": caller.account_id, "Arn": caller.arn}

    def _credentials(self, duration: int) -> tuple[str, str, str, float, float]:
        now = round(self._now(), 3)
        return (
            new_access_key_id("ASIA"),
            new_secret_access_key(),
            new_session_token(),
            now,
            now + duration,
        )

    async def _issue(self, session: StsSession, output: Mapping[str, Any]) -> Mapping[str, Any]:
        def unit(tx: IamTx) -> IamChange:
            if session.kind == ASSUMED_ROLE and tx.iam_role(session.owner_name) is None:
                raise self._no_role(session.owner_name)
            user_gone = session.owner_name and tx.iam_user(session.owner_name) is None
            if session.kind == USER_SESSION and user_gone:
                raise self._no_user(session.owner_name)
            pruned = tx.prune_sts_sessions(session.created - EXPIRED_RETENTION)
            tx.insert_sts_session(session)
            return IamChange(
                output=output, sessions_added=(session,), sessions_removed=tuple(pruned)
            )

        return await self._write(unit)

    async def assume_role(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        role_arn, session_name = params["RoleArn"], params["RoleSessionName"]
        if params.get("PolicyArns"):
            raise ValidationError("Managed session policies (PolicyArns) are not supported.")
        if not caller.is_root:
            authorize(caller, "sts:AssumeRole", [role_arn], facts)
        refused = AccessDenied(
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: "
            f"{role_arn}"
        )
        prefix = f"arn:aws:iam::{self._account}:role/"
        entry = (
            self._index.role(role_arn.rsplit("/", 1)[-1]) if role_arn.startswith(prefix) else None
        )
        if entry is None or entry.role.arn(self._account) != role_arn:
            raise refused
        role = entry.role
        tags = _tags(params.get("Tags"))
        keys = context_keys(caller, facts, self._now())
        keys["sts:RoleSessionName"] = session_name
        if tags:
            keys["aws:TagKeys"] = list(tags)
            for k, v in tags.items():
                keys[f"aws:RequestTag/{k}"] = v
        actions = ["sts:AssumeRole", *(["sts:TagSession"] if tags else [])]
        for action in actions:
            ctx = RequestContext(action, role_arn, keys, principal_arn=caller.arn)
            if not evaluate([entry.trust], ctx).allowed:
                if action == "sts:AssumeRole":
                    raise refused
                raise AccessDenied(
                    f"User: {caller.arn} is not authorized to perform: sts:TagSession on "
                    f"resource: {role_arn}"
                )
        policy = params.get("Policy")
        if policy is not None:
            parse_policy(policy, name="session", kind=PolicyKind.IDENTITY, max_size=MAX_SESSION)
        high = role.max_session_duration
        if caller.kind == "assumed-role":
            high = min(high, ROLE_CHAINING_MAX)
        duration = params.get("DurationSeconds")
        if duration is not None and duration > high:
            raise ValidationError(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                if duration > role.max_session_duration
                else "The requested DurationSeconds exceeds the 1 hour session limit for roles "
                "assumed by role chaining."
            )
        duration = _bounded(
            duration,
            min(DEFAULT_ROLE_SESSION, high),
            self._sts.min_duration,
            high,
            "durationSeconds",
        )
        key_id, secret, token, now, expires = self._credentials(duration)
        session = StsSession(
            access_key_id=key_id,
            secret=secret,
            token_sha256=token_digest(token),
            kind=ASSUMED_ROLE,
            owner_name=role.name,
            session_name=session_name,
            tags=tags,
            session_policy=policy,
            created=now,
            expires=expires,
        )
        output = {
            "Credentials": {
                "AccessKeyId": key_id,
                "SecretAccessKey": secret,
                "SessionToken": token,
                "Expiration": expires,
            },
            "AssumedRoleUser": {
                "AssumedRoleId": f"{role.role_id}:{session_name}",
                "Arn": assumed_role_arn(self._account, role.name, session_name),
            },
        }
        if policy is not None or tags:
            packed = _size(policy or "") + sum(len(k) + len(v) for k, v in tags.items())
            output["PackedPolicySize"] = min(100, packed * 100 // MAX_SESSION)
        return await self._issue(session, output)

    async def get_session_token(
        self, caller: Principal, params: dict[str, Any], facts: Facts
    ) -> Mapping[str, Any]:
        if caller.token_issued is not None or caller.kind == "assumed-role":
            raise AccessDenied("Cannot call GetSessionToken with session credentials")
        high = SESSION_TOKEN_ROOT_MAX if caller.is_root else SESSION_TOKEN_MAX
        duration = _bounded(
            params.get("DurationSeconds"),
            min(SESSION_TOKEN_DEFAULT, high),
            self._sts.min_duration,
            high,
            "durationSeconds",
        )
        key_id, secret, token, now, expires = self._credentials(duration)
        session = StsSession(
            access_key_id=key_id,
            secret=secret,
            token_sha256=token_digest(token),
            kind=USER_SESSION,
            owner_name="" if caller.is_root else caller.name,
            session_name="",
            tags={},
            session_policy=None,
            created=now,
            expires=expires,
        )
        output = {
            "Credentials": {
                "AccessKeyId": key_id,
                "SecretAccessKey": secret,
                "SessionToken": token,
                "Expiration": expires,
            }
        }
        return await self._issue(session, output)
