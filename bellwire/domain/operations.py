"""Every operation of the four services, registered by importing the module that defines it."""

from bellwire.aws.genshapes import generate, models_of
from bellwire.domain import (
    bots,
    channels,
    flows,
    iam,
    identity,
    messages,
    push,
    streaming,
    sts,
    sub_channels,
    tags,
    unsupported,
)
from bellwire.domain.operation import REGISTRY

__all__ = [
    "REGISTRY",
    "bots",
    "channels",
    "flows",
    "iam",
    "identity",
    "implemented",
    "messages",
    "push",
    "shapes_source",
    "streaming",
    "sts",
    "sub_channels",
    "tags",
    "unsupported",
]


def implemented(service: str) -> list[str]:
    """The names of a service's operations that run (not refused), sorted."""
    return sorted(r.name for r in REGISTRY.values() if r.service == service and not r.refused)


def shapes_source() -> str:
    """What ``bellwire/aws/shapes.py`` must hold: the input types of every implemented
    operation of the four services (``scripts/gen-shapes`` writes it, a test compares)."""
    models: dict[str, list[str]] = {}
    for service in ("chime", "iam", "sts"):
        for model, names in models_of(service, implemented(service)).items():
            models.setdefault(model, []).extend(names)
    return generate(models)
