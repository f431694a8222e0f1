"""botocore's bundled service models for the four services bellwire speaks.

The models are the single source of truth for routes, shapes and constraints: nothing here is
hand-copied. Loading decompresses and parses a JSON file (about 10 ms each), so it happens once
per process and is cached.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

from botocore.loaders import Loader
from botocore.model import ServiceModel

MESSAGING: Final = "chime-sdk-messaging"
IDENTITY: Final = "chime-sdk-identity"
IAM: Final = "iam"
STS: Final = "sts"

# Pinned so that a botocore upgrade that ships a new API version fails loudly at startup instead
# of silently changing the wire contract under the handlers.
API_VERSIONS: Final[dict[str, str]] = {
    MESSAGING: "2021-05-15",
    IDENTITY: "2021-04-20",
    IAM: "2010-05-08",
    STS: "2011-06-15",
}
PROTOCOLS: Final[dict[str, str]] = {
    MESSAGING: "rest-json",
    IDENTITY: "rest-json",
    IAM: "query",
    STS: "query",
}

# Order matters where both services define the same operation (the /tags operations): the first
# service listed answers for both, see codec.Router.
SERVICE_NAMES: Final[tuple[str, ...]] = (MESSAGING, IDENTITY)

# Java writes supplementary code points as \u10000-\u10FFFF in the resource-name classes.
_JAVA_SUPPLEMENTARY: Final = "\\u10000-\\u10FFFF"
_PY_SUPPLEMENTARY: Final = "\\U00010000-\\U0010FFFF"


@cache
def load_service_model(service_name: str) -> Any:
    """Return botocore's ``ServiceModel`` for *service_name* (typed ``Any``: botocore is untyped)."""
    expected = API_VERSIONS.get(service_name)
    if expected is None:
        raise ValueError(f"bellwire does not serve {service_name!r}")
    data = Loader().load_service_model(service_name, "service-2", api_version=expected)
    model = ServiceModel(data, service_name=service_name)
    protocol = PROTOCOLS[service_name]
    if model.api_version != expected or model.protocol != protocol:
        raise RuntimeError(
            f"{service_name}: expected {protocol} API {expected}, "
            f"botocore ships {model.protocol} {model.api_version}"
        )
    return model


def service_models() -> tuple[Any, ...]:
    """Both Chime SDK service models, in :data:`SERVICE_NAMES` order."""
    return tuple(load_service_model(name) for name in SERVICE_NAMES)


@cache
def model_pattern(pattern: str) -> re.Pattern[str] | None:
    """A model's (Java) ``pattern`` as a Python regex matched with ``fullmatch``; None for a
    pattern Python cannot read (not checked rather than mis-checked)."""
    try:
        return re.compile(
            pattern.replace(_JAVA_SUPPLEMENTARY, _PY_SUPPLEMENTARY), re.DOTALL | re.ASCII
        )
    except re.error:
        return None
