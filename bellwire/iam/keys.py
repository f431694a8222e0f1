"""Access keys: generation, the root credentials file, and lookup by access key id."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from bellwire.iam.principal import Credential, Principal

_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"
ROOT_FILE = "root-credentials.json"


def new_access_key_id(prefix: str = "AKIA") -> str:
    """AWS-shaped: AKIA for long-term keys, ASIA for temporary ones."""
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def root_principal(account_id: str) -> Principal:
    return Principal(
        arn=f"arn:aws:iam::{account_id}:root",
        account_id=account_id,
        kind="root",
        user_id=account_id,
        name="root",
    )


@dataclass(frozen=True, slots=True)
class RootKeys:
    access_key_id: str
    secret_access_key: str
    # False while no start has printed these generated keys: the banner is due at the next
    # start that gets as far as listening (a first start may fail after generating them).
    shown: bool = True


def load_or_create_root(data_dir: Path, access_key_id: str, secret: str) -> RootKeys:
    """Root keys from the settings if given, else from the data dir, else new ones.

    New keys are written readable by the owner only, before anyone can learn them, marked as
    not shown yet (``Shown: false``); a file without the mark predates it and was shown."""
    if access_key_id and secret:
        return RootKeys(access_key_id, secret)
    path = data_dir / ROOT_FILE
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        return RootKeys(
            document["AccessKeyId"],
            document["SecretAccessKey"],
            shown=document.get("Shown", True) is not False,
        )
    keys = RootKeys(new_access_key_id(), new_secret_access_key(), shown=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(_document(keys), handle)
    return keys


def mark_shown(data_dir: Path, keys: RootKeys) -> RootKeys:
    """Record in the data dir that the banner with *keys* was printed (atomically: a crash
    leaves either the old file or the new one, never half of one)."""
    shown = RootKeys(keys.access_key_id, keys.secret_access_key, shown=True)
    path = data_dir / ROOT_FILE
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(_document(shown), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return shown


def _document(keys: RootKeys) -> dict[str, object]:
    return {
        "AccessKeyId": keys.access_key_id,
        "SecretAccessKey": keys.secret_access_key,
        "Shown": keys.shown,
    }


def prepare_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)


def root_credential(keys: RootKeys, account_id: str) -> Credential:
    return Credential(keys.access_key_id, keys.secret_access_key, root_principal(account_id))
