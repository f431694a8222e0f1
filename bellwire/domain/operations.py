"""Every operation of the four services, registered by importing the module that defines it."""

from bellwire.domain import channels, iam, identity, messages, sts, tags, unsupported
from bellwire.domain.operation import REGISTRY

__all__ = [
    "REGISTRY",
    "channels",
    "iam",
    "identity",
    "implemented",
    "messages",
    "sts",
    "tags",
    "unsupported",
]


def implemented(service: str) -> list[str]:
    """The names of a service's operations that run (not refused), sorted."""
    return sorted(r.name for r in REGISTRY.values() if r.service == service and not r.refused)
