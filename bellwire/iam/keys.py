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
    generated: bool  # True on the start that created them: print them once


def load_or_create_root(data_dir: Path, access_key_id: str, secret: str) -> RootKeys:
    """Root keys from the settings if given, else from the data dir, else new ones.

    New keys are written readable by the owner only, before anyone can learn them."""
    if access_key_id and secret:
        return RootKeys(access_key_id, secret, generated=False)
    path = data_dir / ROOT_FILE
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        return RootKeys(document["AccessKeyId"], document["SecretAccessKey"], generated=False)
    keys = RootKeys(new_access_key_id(), new_secret_access_key(), generated=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(
            {"AccessKeyId": keys.access_key_id, "SecretAccessKey": keys.secret_access_key}, handle
        )
    return keys


def prepare_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)


def root_credential(keys: RootKeys, account_id: str) -> Credential:
    return Credential(keys.access_key_id, keys.secret_access_key, root_principal(account_id))
