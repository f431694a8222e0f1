"""botocore's bundled service models for the two Chime SDK services bellwire speaks.

The models are the single source of truth for routes, shapes and constraints: nothing here is
hand-copied. Loading decompresses and parses two JSON files (about 10 ms each), so it happens once
per process and is cached.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from botocore.loaders import Loader
from botocore.model import ServiceModel

MESSAGING: Final = "chime-sdk-messaging"
IDENTITY: Final = "chime-sdk-identity"

# Pinned so that a botocore upgrade that ships a new API version fails loudly at startup instead
# of silently changing the wire contract under the handlers.
API_VERSIONS: Final[dict[str, str]] = {MESSAGING: "2021-05-15", IDENTITY: "2021-04-20"}

# Order matters where both services define the same operation (the /tags operations): the first
# service listed answers for both, see codec.Router.
SERVICE_NAMES: Final[tuple[str, ...]] = (MESSAGING, IDENTITY)


@cache
def load_service_model(service_name: str) -> Any:
    """Return botocore's ``ServiceModel`` for *service_name* (typed ``Any``: botocore is untyped)."""
    expected = API_VERSIONS.get(service_name)
    if expected is None:
        raise ValueError(f"bellwire does not serve {service_name!r}")
    data = Loader().load_service_model(service_name, "service-2", api_version=expected)
    model = ServiceModel(data, service_name=service_name)
    if model.api_version != expected or model.protocol != "rest-json":
        raise RuntimeError(
            f"{service_name}: expected rest-json API {expected}, "
            f"botocore ships {model.protocol} {model.api_version}"
        )
    return model


def service_models() -> tuple[Any, ...]:
    """Both service models, in :data:`SERVICE_NAMES` order."""
    return tuple(load_service_model(name) for name in SERVICE_NAMES)
