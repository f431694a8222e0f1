"""TypedDicts of operation inputs, written from the pinned botocore models (pure: model in,
Python source out). ``scripts/gen-shapes`` writes ``bellwire/aws/shapes.py`` with it for the
operations the registry implements; ``tests/unit/test_shapes.py`` regenerates and compares, so
the committed types can never drift from the model.

The types are those the codecs hand the operations: strings, ``int``, ``bool``, ``datetime``
(query timestamps), ``bytes``, lists and dicts; a member the model requires is ``Required``.
No ``from __future__ import annotations`` in the output: ``__required_keys__`` stays true.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from bellwire.aws.model import IDENTITY, MESSAGING, load_service_model

_PREFIX: Final[dict[str, str]] = {
    "chime-sdk-identity": "Identity",
    "chime-sdk-messaging": "Messaging",
    "iam": "Iam",
    "sts": "Sts",
}
_SCALARS: Final[dict[str, str]] = {
    "string": "str",
    "integer": "int",
    "long": "int",
    "boolean": "bool",
    "timestamp": "datetime",
    "blob": "bytes",
    "float": "float",
    "double": "float",
}

HEADER: Final = '''"""Operation inputs as TypedDicts, generated from botocore's pinned models by
``scripts/gen-shapes`` (bellwire.aws.genshapes): do not edit."""

{imports}from typing import Required, TypedDict
'''


class _Writer:
    def __init__(self, service: str) -> None:
        self.prefix = _PREFIX[service]
        self.done: set[str] = set()
        self.blocks: list[str] = []
        self.written: set[str] = set()

    def name(self, shape: Any) -> str:
        name = str(shape.name)
        return self.prefix + name[:1].upper() + name[1:]

    def type_of(self, shape: Any) -> str:
        kind = shape.type_name
        if kind == "structure":
            self.structure(shape)
            name = self.name(shape)
            # Written above its users, so the types are real at run time (Required counts in
            # __required_keys__); only a structure containing itself needs a forward reference.
            return name if name in self.written else f'"{name}"'
        if kind == "list":
            return f"list[{self.type_of(shape.member)}]"
        if kind == "map":
            return f"dict[{self.type_of(shape.key)}, {self.type_of(shape.value)}]"
        return str(_SCALARS[kind])

    def structure(self, shape: Any) -> None:
        name = self.name(shape)
        if name in self.done:
            return
        self.done.add(name)
        lines = [f"class {name}(TypedDict, total=False):"]
        required = set(shape.required_members)
        for member, member_shape in shape.members.items():
            kind = self.type_of(member_shape)
            lines.append(f"    {member}: {f'Required[{kind}]' if member in required else kind}")
        if len(lines) == 1:
            lines.append("    pass")
        self.blocks.append("\n".join(lines))
        self.written.add(name)


def models_of(service: str, names: Iterable[str]) -> dict[str, list[str]]:
    """The botocore models typing a registry service's operations: ``chime`` spans the two Chime
    SDKs (an operation both define, such as TagResource, is typed from chime-sdk-messaging, whose
    shape is the same); IAM and STS are their own model."""
    if service != "chime":
        return {service: sorted(names)}
    messaging = set(load_service_model(MESSAGING).operation_names)
    split: dict[str, list[str]] = {MESSAGING: [], IDENTITY: []}
    for name in sorted(names):
        split[MESSAGING if name in messaging else IDENTITY].append(name)
    return split


def request_type(service: str, name: str) -> str:
    """The generated input type's name of a registry service's operation."""
    (model,) = (m for m, names in models_of(service, [name]).items() if names)
    return f"{_PREFIX[model]}{name}Request"


def generate(operations: Mapping[str, Iterable[str]]) -> str:
    """The module text typing the inputs of ``operations`` (service -> operation names)."""
    blocks: list[str] = []
    for service in sorted(operations):
        model = load_service_model(service)
        writer = _Writer(service)
        for op_name in sorted(set(operations[service])):
            shape = model.operation_model(op_name).input_shape
            if shape is not None:
                writer.structure(shape)
        blocks.extend(writer.blocks)
    body = "\n\n\n".join(blocks)
    imports = (
        "from datetime import datetime\n" if ": datetime" in body or "[datetime" in body else ""
    )
    return HEADER.format(imports=imports) + "\n\n" + body + "\n"
