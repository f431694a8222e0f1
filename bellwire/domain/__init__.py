"""The Chime rules. ``bellwire.domain.operations`` registers every operation in ``REGISTRY``."""
