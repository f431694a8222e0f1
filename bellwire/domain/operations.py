"""Every Chime operation, registered by importing the module that defines it."""

from bellwire.domain import channels, identity, messages, tags, unsupported
from bellwire.domain.operation import REGISTRY

__all__ = ["REGISTRY", "channels", "identity", "messages", "tags", "unsupported"]
