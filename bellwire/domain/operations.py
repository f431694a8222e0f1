"""Every operation of the four services, registered by importing the module that defines it."""

from bellwire.domain import channels, iam, identity, messages, sts, tags, unsupported
from bellwire.domain.operation import REGISTRY

__all__ = ["REGISTRY", "channels", "iam", "identity", "messages", "sts", "tags", "unsupported"]
