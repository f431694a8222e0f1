"""The Chime rules. Importing the package registers every operation in ``REGISTRY``."""

from bellwire.domain import channels, identity, messages, tags, unsupported
from bellwire.domain.operation import REGISTRY

__all__ = ["REGISTRY", "channels", "identity", "messages", "tags", "unsupported"]
