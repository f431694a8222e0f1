"""IAM users and roles declared in the TOML config, applied idempotently at startup.

    [[iam.users]]
    name = "backend"
    access_keys = [{ id = "AKIABACKEND000000001", secret = "..." }]
    policies = { chime = '''{"Version": "2012-10-17", "Statement": [...]}''' }

    [[iam.roles]]
    name = "chat-user"
    trust_policy = '''{"Version": "2012-10-17", "Statement": [...]}'''
    max_session_duration = 3600
    policies = { chime = '''...''' }

A policy may be a JSON string or a TOML table (converted to JSON). Applying creates what is
missing and overwrites declared policies, trust policies and session durations; it never
deletes what is not declared (that is an operator's explicit act through the API or CLI). A
declared access key that exists under another user, or with another secret, stops the start:
silently keeping a different secret than the file says would surprise whoever wrote the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

from bellwire.aws.errors import AwsError
from bellwire.config import ConfigError
from bellwire.iam.credentials import CredentialIndex

_NAME_RE: Final = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
_KEY_ID_RE: Final = re.compile(r"\w{16,128}", re.ASCII)
_USER_FIELDS: Final = frozenset({"name", "path", "access_keys", "policies", "tags"})
_ROLE_FIELDS: Final = frozenset(
    {"name", "path", "trust_policy", "policies", "max_session_duration", "description", "tags"}
)


def _document(raw: Any, where: str) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict):
        return json.dumps(raw)
    raise ConfigError(f"{where}: a policy must be a JSON string or a table")


def _table_list(section: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    items = section.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"[[iam.{name}]] must be an array of tables")
    return items


def _check_fields(item: Mapping[str, Any], allowed: frozenset[str], where: str) -> str:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s): {', '.join(unknown)}")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(f"{where}: name must be 1-64 characters of [A-Za-z0-9_+=,.@-]")
    return name


def _tags(item: Mapping[str, Any], where: str) -> list[dict[str, str]]:
    tags = item.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise ConfigError(f"{where}: tags must be a table of strings")
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _policies(item: Mapping[str, Any], where: str) -> dict[str, str]:
    policies = item.get("policies", {})
    if not isinstance(policies, dict):
        raise ConfigError(f"{where}: policies must be a table of name = policy")
    return {name: _document(doc, f"{where} policy {name}") for name, doc in policies.items()}


def validate(document: Mapping[str, Any]) -> None:
    """Check the [iam] section's shape without touching a store (``bellwire checkconfig``)."""
    section = document.get("iam", {})
    if not isinstance(section, dict):
        raise ConfigError("[iam] must be a table")
    unknown = sorted(set(section) - {"users", "roles"})
    if unknown:
        raise ConfigError(f"[iam]: unknown field(s): {', '.join(unknown)}")
    for i, user in enumerate(_table_list(section, "users")):
        where = f"iam.users[{i}]"
        _check_fields(user, _USER_FIELDS, where)
        _policies(user, where)
        _tags(user, where)
        keys = user.get("access_keys", [])
        if not isinstance(keys, list):
            raise ConfigError(f"{where}: access_keys must be an array of tables")
        for key in keys:
            if (
                not isinstance(key, dict)
                or set(key) != {"id", "secret"}
                or not isinstance(key["id"], str)
                or not _KEY_ID_RE.fullmatch(key["id"])
                or not isinstance(key["secret"], str)
                or len(key["secret"]) < 16
            ):
                raise ConfigError(
                    f"{where}: each access key needs an id (16+ word characters) and a "
                    "secret (16+ characters)"
                )
    for i, role in enumerate(_table_list(section, "roles")):
        where = f"iam.roles[{i}]"
        _check_fields(role, _ROLE_FIELDS, where)
        _document(role.get("trust_policy"), f"{where} trust_policy")
        _policies(role, where)
        _tags(role, where)
        duration = role.get("max_session_duration", 3600)
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise ConfigError(f"{where}: max_session_duration must be an integer")


class IamAdmin(Protocol):
    """The IAM writes a declaration needs, run by the server itself (no authorization)."""

    async def create_user(self, params: dict[str, Any]) -> object: ...
    async def add_access_key(self, name: str, access_key_id: str, secret: str) -> object: ...
    async def store_user_policy(self, name: str, policy_name: str, document: str) -> object: ...
    async def create_role(self, params: dict[str, Any]) -> object: ...
    async def update_role(self, name: str, *, trust_policy: str, max_session: int) -> object: ...
    async def store_role_policy(self, name: str, policy_name: str, document: str) -> object: ...


async def apply(document: Mapping[str, Any], api: IamAdmin, index: CredentialIndex) -> None:
    """Create or update what the [iam] section declares; ConfigError names what is wrong."""
    validate(document)
    section = document.get("iam", {})
    try:
        for i, user in enumerate(section.get("users", [])):
            where = f"iam.users[{i}] ({user['name']})"
            name = user["name"]
            if index.user(name) is None:
                params: dict[str, Any] = {"UserName": name, "Path": user.get("path", "/")}
                if user.get("tags"):
                    params["Tags"] = _tags(user, where)
                await api.create_user(params)
            for key in user.get("access_keys", []):
                existing = index.get(key["id"])
                if existing is None:
                    await api.add_access_key(name, key["id"], key["secret"])
                elif (
                    existing.principal.kind != "user"
                    or existing.principal.name.lower() != name.lower()
                    or existing.secret_access_key != key["secret"]
                ):
                    raise ConfigError(
                        f"{where}: access key {key['id']} already exists with another user "
                        "or another secret"
                    )
            for policy_name, doc in _policies(user, where).items():
                await api.store_user_policy(name, policy_name, doc)
        for i, role in enumerate(section.get("roles", [])):
            where = f"iam.roles[{i}] ({role['name']})"
            name = role["name"]
            trust = _document(role["trust_policy"], f"{where} trust_policy")
            duration = role.get("max_session_duration", 3600)
            if index.role(name) is None:
                params = {
                    "RoleName": name,
                    "Path": role.get("path", "/"),
                    "AssumeRolePolicyDocument": trust,
                    "MaxSessionDuration": duration,
                }
                if role.get("description"):
                    params["Description"] = role["description"]
                if role.get("tags"):
                    params["Tags"] = _tags(role, where)
                await api.create_role(params)
            else:
                if not 3600 <= duration <= 43200:
                    raise ConfigError(f"{where}: max_session_duration must be 3600-43200")
                await api.update_role(name, trust_policy=trust, max_session=duration)
            for policy_name, doc in _policies(role, where).items():
                await api.store_role_policy(name, policy_name, doc)
    except AwsError as err:
        raise ConfigError(f"[iam]: {err.code}: {err.message}") from None
