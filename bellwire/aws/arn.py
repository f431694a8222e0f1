"""Chime SDK ARNs: parsing and formatting (spec §4.3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_ID = r"[A-Za-z0-9]([A-Za-z0-9:\-_.@]{0,62}[A-Za-z0-9])?"
_ID_RE = re.compile(_ID)
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):chime:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"app-instance/(?P<app>[A-Za-z0-9\-_.]{1,64})"
    r"(?:/(?P<kind>user|bot|channel|channel-flow)/(?P<id>" + _ID + r"))?"
)


@dataclass(frozen=True, slots=True)
class ChimeArn:
    region: str
    account: str
    app_instance_id: str
    kind: str | None  # None for the app instance itself; user, bot, channel, channel-flow
    resource_id: str | None
    partition: str = "aws"

    @property
    def app_instance_arn(self) -> str:
        return f"arn:{self.partition}:chime:{self.region}:{self.account}:app-instance/{self.app_instance_id}"

    def __str__(self) -> str:
        base = self.app_instance_arn
        return base if self.kind is None else f"{base}/{self.kind}/{self.resource_id}"


@lru_cache(maxsize=1024)
def parse(arn: str) -> ChimeArn | None:
    """Parsed once per distinct ARN (a request parses the same few several times); the result
    is frozen, so sharing it is safe."""
    match = _ARN_RE.fullmatch(arn)
    if match is None:
        return None
    return ChimeArn(
        region=match["region"],
        account=match["account"],
        app_instance_id=match["app"],
        kind=match["kind"],
        resource_id=match["id"],
        partition=match["partition"],
    )


def valid_id(value: str) -> bool:
    return _ID_RE.fullmatch(value) is not None


def app_instance(region: str, account: str, app_instance_id: str) -> str:
    return f"arn:aws:chime:{region}:{account}:app-instance/{app_instance_id}"


def child(app_instance_arn: str, kind: str, resource_id: str) -> str:
    return f"{app_instance_arn}/{kind}/{resource_id}"
