"""IAM and STS: users, access keys, roles, inline policies and temporary-credential sessions."""

from __future__ import annotations

from bellwire.records.iam import (
    AccessKey,
    IamRole,
    IamSnapshot,
    IamUser,
    RoleState,
    StsSession,
    UserState,
    name_key,
)
from bellwire.store.sql.common import Row, SqlBase, json_column, like_prefix, unjson_column

_IAM_USER_COLUMNS = "name, user_id, path, created, tags"
_IAM_ROLE_COLUMNS = (
    "name, role_id, path, description, trust_policy, max_session_duration, created, tags"
)
_STS_COLUMNS = (
    "access_key_id, secret, token_sha256, kind, owner_name, session_name, tags, "
    "session_policy, created, expires"
)


def _iam_user(row: Row) -> IamUser:
    return IamUser(row[0], row[1], row[2], row[3], unjson_column(row[4]) or {})


def _iam_role(row: Row) -> IamRole:
    return IamRole(
        name=row[0],
        role_id=row[1],
        path=row[2],
        description=row[3],
        trust_policy=row[4],
        max_session_duration=int(row[5]),
        created=row[6],
        tags=unjson_column(row[7]) or {},
    )


def _sts_session(row: Row) -> StsSession:
    return StsSession(
        access_key_id=row[0],
        secret=row[1],
        token_sha256=row[2],
        kind=row[3],
        owner_name=row[4],
        session_name=row[5],
        tags=unjson_column(row[6]) or {},
        session_policy=row[7],
        created=row[8],
        expires=row[9],
    )


class IamSql(SqlBase):
    __slots__ = ()

    # --- users ---------------------------------------------------------------------------------

    def iam_user(self, name: str) -> IamUser | None:
        row = self._one(
            f"SELECT {_IAM_USER_COLUMNS} FROM iam_users WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _iam_user(row)

    def insert_iam_user(self, u: IamUser) -> None:
        self._run(
            "INSERT INTO iam_users (name_key, name, user_id, path, created, tags) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name_key(u.name), u.name, u.user_id, u.path, u.created, json_column(dict(u.tags))),
        )

    def delete_iam_user(self, name: str) -> None:
        key = name_key(name)
        self._run("DELETE FROM iam_access_keys WHERE user_key = ?", (key,))
        self._run(
            "DELETE FROM iam_inline_policies WHERE owner_kind = 'user' AND owner_key = ?", (key,)
        )
        self._run("DELETE FROM iam_users WHERE name_key = ?", (key,))

    def list_iam_users(self, path_prefix: str, after: str | None, limit: int) -> list[IamUser]:
        rows = self._all(
            f"SELECT {_IAM_USER_COLUMNS} FROM iam_users WHERE name_key > ? AND path LIKE ? "
            "ESCAPE '\\' ORDER BY name_key LIMIT ?",
            (after or "", like_prefix(path_prefix), limit),
        )
        return [_iam_user(r) for r in rows]

    def iam_user_state(self, name: str) -> UserState | None:
        user = self.iam_user(name)
        if user is None:
            return None
        return UserState(
            user, tuple(self.access_keys_of(user.name)), self.inline_policies("user", user.name)
        )

    # --- access keys ---------------------------------------------------------------------------

    def insert_access_key(self, k: AccessKey) -> None:
        self._run(
            "INSERT INTO iam_access_keys (access_key_id, user_key, secret, status, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (k.access_key_id, name_key(k.user_name), k.secret, k.status, k.created),
        )

    def access_keys_of(self, user_name: str) -> list[AccessKey]:
        rows = self._all(
            "SELECT k.access_key_id, u.name, k.secret, k.status, k.created "
            "FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "WHERE k.user_key = ? ORDER BY k.created, k.access_key_id",
            (name_key(user_name),),
        )
        return [AccessKey(*r) for r in rows]

    def access_key_owner(self, access_key_id: str) -> str | None:
        """The name of the user owning a long-term access key."""
        row = self._one(
            "SELECT u.name FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "WHERE k.access_key_id = ?",
            (access_key_id,),
        )
        return None if row is None else str(row[0])

    def set_access_key_status(self, access_key_id: str, status: str) -> None:
        self._run(
            "UPDATE iam_access_keys SET status = ? WHERE access_key_id = ?",
            (status, access_key_id),
        )

    def delete_access_key(self, access_key_id: str) -> None:
        self._run("DELETE FROM iam_access_keys WHERE access_key_id = ?", (access_key_id,))

    # --- inline policies (owner_kind "user" or "role") ----------------------------------------

    def put_inline_policy(
        self, owner_kind: str, owner_name: str, policy_name: str, document: str
    ) -> None:
        key = (owner_kind, name_key(owner_name), policy_name)
        self._run(
            "DELETE FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            key,
        )
        self._run(
            "INSERT INTO iam_inline_policies (owner_kind, owner_key, policy_name, document) "
            "VALUES (?, ?, ?, ?)",
            (*key, document),
        )

    def inline_policy(self, owner_kind: str, owner_name: str, policy_name: str) -> str | None:
        row = self._one(
            "SELECT document FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            (owner_kind, name_key(owner_name), policy_name),
        )
        return None if row is None else str(row[0])

    def inline_policies(self, owner_kind: str, owner_name: str) -> dict[str, str]:
        rows = self._all(
            "SELECT policy_name, document FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? ORDER BY policy_name",
            (owner_kind, name_key(owner_name)),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def delete_inline_policy(self, owner_kind: str, owner_name: str, policy_name: str) -> None:
        self._run(
            "DELETE FROM iam_inline_policies "
            "WHERE owner_kind = ? AND owner_key = ? AND policy_name = ?",
            (owner_kind, name_key(owner_name), policy_name),
        )

    # --- roles ---------------------------------------------------------------------------------

    def iam_role(self, name: str) -> IamRole | None:
        row = self._one(
            f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles WHERE name_key = ?", (name_key(name),)
        )
        return None if row is None else _iam_role(row)

    def insert_iam_role(self, r: IamRole) -> None:
        self._run(
            "INSERT INTO iam_roles (name_key, name, role_id, path, description, trust_policy, "
            "max_session_duration, created, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name_key(r.name),
                r.name,
                r.role_id,
                r.path,
                r.description,
                r.trust_policy,
                r.max_session_duration,
                r.created,
                json_column(dict(r.tags)),
            ),
        )

    def update_iam_role(self, name: str, *, trust_policy: str, max_session_duration: int) -> None:
        self._run(
            "UPDATE iam_roles SET trust_policy = ?, max_session_duration = ? WHERE name_key = ?",
            (trust_policy, max_session_duration, name_key(name)),
        )

    def delete_iam_role(self, name: str) -> None:
        key = name_key(name)
        self._run(
            "DELETE FROM iam_inline_policies WHERE owner_kind = 'role' AND owner_key = ?", (key,)
        )
        self._run("DELETE FROM iam_roles WHERE name_key = ?", (key,))

    def list_iam_roles(self, path_prefix: str, after: str | None, limit: int) -> list[IamRole]:
        rows = self._all(
            f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles WHERE name_key > ? AND path LIKE ? "
            "ESCAPE '\\' ORDER BY name_key LIMIT ?",
            (after or "", like_prefix(path_prefix), limit),
        )
        return [_iam_role(r) for r in rows]

    def iam_role_state(self, name: str) -> RoleState | None:
        role = self.iam_role(name)
        if role is None:
            return None
        return RoleState(role, self.inline_policies("role", role.name))

    # --- STS sessions ----------------------------------------------------------------------------

    def insert_sts_session(self, s: StsSession) -> None:
        self._run(
            "INSERT INTO sts_sessions (access_key_id, secret, token_sha256, kind, owner_key, "
            "owner_name, session_name, tags, session_policy, created, expires) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.access_key_id,
                s.secret,
                s.token_sha256,
                s.kind,
                name_key(s.owner_name),
                s.owner_name,
                s.session_name,
                json_column(dict(s.tags)),
                s.session_policy,
                s.created,
                s.expires,
            ),
        )

    def delete_sts_sessions_of(self, kind: str, owner_name: str) -> list[str]:
        """Delete the sessions of a deleted role or user; returns their access key ids."""
        key = name_key(owner_name)
        ids = [
            str(r[0])
            for r in self._all(
                "SELECT access_key_id FROM sts_sessions WHERE kind = ? AND owner_key = ?",
                (kind, key),
            )
        ]
        self._run("DELETE FROM sts_sessions WHERE kind = ? AND owner_key = ?", (kind, key))
        return ids

    def prune_sts_sessions(self, expired_before: float) -> list[str]:
        """Forget sessions that expired before ``expired_before``; returns their key ids."""
        ids = [
            str(r[0])
            for r in self._all(
                "SELECT access_key_id FROM sts_sessions WHERE expires < ?", (expired_before,)
            )
        ]
        self._run("DELETE FROM sts_sessions WHERE expires < ?", (expired_before,))
        return ids

    def iam_snapshot(self) -> IamSnapshot:
        """Everything the credential index needs, in one read transaction (startup)."""
        users = self._all(f"SELECT {_IAM_USER_COLUMNS} FROM iam_users ORDER BY name_key")
        keys = self._all(
            "SELECT k.access_key_id, u.name, k.secret, k.status, k.created, k.user_key "
            "FROM iam_access_keys k JOIN iam_users u ON u.name_key = k.user_key "
            "ORDER BY k.created, k.access_key_id"
        )
        roles = self._all(f"SELECT {_IAM_ROLE_COLUMNS} FROM iam_roles ORDER BY name_key")
        policies = self._all(
            "SELECT owner_kind, owner_key, policy_name, document FROM iam_inline_policies "
            "ORDER BY policy_name"
        )
        sessions = self._all(f"SELECT {_STS_COLUMNS} FROM sts_sessions")
        keys_by_user: dict[str, list[AccessKey]] = {}
        for r in keys:
            keys_by_user.setdefault(r[5], []).append(AccessKey(*r[:5]))
        docs: dict[tuple[str, str], dict[str, str]] = {}
        for kind, owner, pname, doc in policies:
            docs.setdefault((kind, owner), {})[pname] = doc
        return IamSnapshot(
            users=tuple(
                UserState(
                    u,
                    tuple(keys_by_user.get(name_key(u.name), ())),
                    docs.get(("user", name_key(u.name)), {}),
                )
                for u in map(_iam_user, users)
            ),
            roles=tuple(
                RoleState(r, docs.get(("role", name_key(r.name)), {}))
                for r in map(_iam_role, roles)
            ),
            sessions=tuple(_sts_session(r) for r in sessions),
            version=self.iam_version(),
        )

    def next_iam_version(self) -> int:
        """Take the next IAM version (one per IAM/STS write, in its transaction)."""
        row = self._one(
            "UPDATE iam_version SET version = version + 1 WHERE id = 1 RETURNING version"
        )
        assert row is not None
        return int(row[0])

    def iam_version(self) -> int:
        row = self._one("SELECT version FROM iam_version WHERE id = 1")
        return 0 if row is None else int(row[0])
