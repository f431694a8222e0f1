"""TypedDicts of operation inputs and outputs, written from the pinned botocore models (pure:
model in, Python source out). ``scripts/gen-shapes`` writes ``bellwire/aws/shapes.py`` with it
for the operations the registry implements; ``tests/unit/test_shapes.py`` regenerates and
compares, so the committed types can never drift from the model.

Inputs are typed as the codecs hand them to the operations: strings, ``int``, ``bool``,
``datetime`` (query timestamps), ``bytes``, lists and dicts. Outputs as the operations hand them
to the codecs: the same, except timestamps, which are epoch seconds (``float``), collections,
which are ``Sequence`` and ``Mapping`` (the serializers only read them), and optional members,
which may be ``None``: both serializers leave a ``None`` member out, as if absent. A
member the model requires is ``Required`` (and never ``None``) on both sides; an operation
without an output shape returns ``NoOutput``, the empty TypedDict. A structure an input and an
output share is written once, with its optional members nullable. No ``from __future__ import
annotations`` in the output: ``__required_keys__`` stays true.
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

# Timestamps in outputs: what the records hold and both serializers write.
_OUTPUT_TIMESTAMP: Final = "float"
NO_OUTPUT: Final = "NoOutput"

HEADER: Final = '''"""Operation inputs and outputs as TypedDicts, generated from botocore's pinned models
by ``scripts/gen-shapes`` (bellwire.aws.genshapes): do not edit."""

{imports}from typing import Required, TypedDict


class NoOutput(TypedDict):
    """What an operation returns whose model has no output shape."""
'''


def _structures(shape: Any, found: set[str]) -> set[str]:
    """The names of the structures *shape* reaches (itself included)."""
    kind = shape.type_name
    if kind == "structure" and shape.name not in found:
        found.add(shape.name)
        for member in shape.members.values():
            _structures(member, found)
    elif kind == "list":
        _structures(shape.member, found)
    elif kind == "map":
        _structures(shape.value, found)
    return found


class _Writer:
    def __init__(self, service: str, outputs: set[str]) -> None:
        self.prefix = _PREFIX[service]
        self.outputs = outputs  # the structures an output reaches: optional members nullable
        self.output = False  # whether the structure being written is reached from an output
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
        # Outputs are only read (by the serializers): their collections are the read-only,
        # covariant Sequence and Mapping, which records and builders' results fill as they are.
        if kind == "list":
            return f"{'Sequence' if self.output else 'list'}[{self.type_of(shape.member)}]"
        if kind == "map":
            kinds = f"{self.type_of(shape.key)}, {self.type_of(shape.value)}"
            return f"{'Mapping' if self.output else 'dict'}[{kinds}]"
        if kind == "timestamp" and self.output:
            return _OUTPUT_TIMESTAMP
        return str(_SCALARS[kind])

    def structure(self, shape: Any) -> None:
        name = self.name(shape)
        if name in self.done:
            return
        self.done.add(name)
        nullable = shape.name in self.outputs
        lines = [f"class {name}(TypedDict, total=False):"]
        required = set(shape.required_members)
        for member, member_shape in shape.members.items():
            if nullable and not self.output and member_shape.type_name == "timestamp":
                # One class cannot say datetime (input) and epoch seconds (output) at once.
                raise ValueError(f"{shape.name}.{member}: a timestamp in an input and an output")
            kind = self.type_of(member_shape)
            if member in required:
                kind = f"Required[{kind}]"
            elif nullable:
                kind = f"{kind} | None"
            lines.append(f"    {member}: {kind}")
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


def every_operation() -> dict[str, list[str]]:
    """Every operation of the four pinned models, by model: what ``scripts/gen-shapes`` types
    first, so that a domain module may import the types of an operation it is only now
    registering (the registry, which says what is implemented, is read by importing them)."""
    return {
        model: sorted(load_service_model(model).operation_names)
        for model in (IDENTITY, MESSAGING, "iam", "sts")
    }


def _model_of(service: str, name: str) -> str:
    (model,) = (m for m, names in models_of(service, [name]).items() if names)
    return model


def request_type(service: str, name: str) -> str:
    """The generated input type's name of a registry service's operation."""
    return f"{_PREFIX[_model_of(service, name)]}{name}Request"


def response_type(service: str, name: str) -> str:
    """The generated output type's name of a registry service's operation: the model's output
    shape (``MessagingCreateChannelResponse``, ``IamCreateUserResponse``...) or ``NoOutput``."""
    model = _model_of(service, name)
    shape = load_service_model(model).operation_model(name).output_shape
    if shape is None:
        return NO_OUTPUT
    return f"{_PREFIX[model]}{shape.name[:1].upper()}{shape.name[1:]}"


def generate(operations: Mapping[str, Iterable[str]]) -> str:
    """The module text typing the inputs and outputs of ``operations`` (service -> operation
    names): the inputs of a model first, then its outputs, each structure once."""
    blocks: list[str] = []
    for service in sorted(operations):
        model = load_service_model(service)
        ops = [model.operation_model(name) for name in sorted(set(operations[service]))]
        outputs: set[str] = set()
        for op in ops:
            if op.output_shape is not None:
                _structures(op.output_shape, outputs)
        writer = _Writer(service, outputs)
        for op in ops:
            if op.input_shape is not None:
                writer.structure(op.input_shape)
        writer.output = True
        for op in ops:
            if op.output_shape is not None:
                writer.structure(op.output_shape)
        blocks.extend(writer.blocks)
    body = "\n\n\n".join(blocks)
    abc = [name for name in ("Mapping", "Sequence") if f"{name}[" in body]
    imports = f"from collections.abc import {', '.join(abc)}\n" if abc else ""
    if ": datetime" in body or "[datetime" in body:
        imports += "from datetime import datetime\n"
    return HEADER.format(imports=imports) + "\n\n" + body + "\n"
