"""bellwire: a self-hosted server for the Amazon Chime SDK Messaging protocol."""

__version__ = "0.1.0"
