"""The AWS query protocol (IAM, STS), pure (bytes in, bytes out), driven by botocore's ``iam``
and ``sts`` service models.

Requests are form-encoded POSTs to ``/`` with ``Action`` and ``Version``; nested input is
flattened (``Tags.member.1.Key=...``). Responses are XML documents named after the operation
(``<CreateUserResponse><CreateUserResult>...``) and errors are
``<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>``, which
botocore maps by ``Code`` to its modeled exceptions.

Decisions a caller should know:

* Input is checked against the model for required members, string lengths, patterns, enums and
  list sizes (``ValidationError``, with AWS's "1 validation error detected: ..." wording).
  Integer ranges are *not* checked here: the operations check them, because some model bounds
  are deliberately relaxed by settings (``sts_min_duration_seconds`` lets tests use 1-second
  sessions where the model says 900).
* Strings of the ``policyDocumentType`` shape are URL-encoded in responses, as IAM does (botocore
  URL-decodes and JSON-parses them back into dicts).
* Timestamps are written as ISO 8601 in UTC with a ``Z``; handlers give epoch seconds.
* Unknown parameters are ignored (newer SDKs may send members this model does not know); any
  parameter given twice (``Action=A&Action=B``) is a ``ValidationError``, not a last-wins pick.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from bellwire.aws.errors import AwsError, InvalidAction, MissingAction, ValidationError
from bellwire.aws.model import load_service_model, model_pattern

CONTENT_TYPE: Final = "text/xml"
_POLICY_DOCUMENT_SHAPE: Final = "policyDocumentType"
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_INTEGER: Final = re.compile(r"[+-]?[0-9]+", re.ASCII)


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _iso8601(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class QueryCodec:
    """Parse requests and write responses of one query-protocol service."""

    def __init__(self, service_name: str) -> None:
        self.model = load_service_model(service_name)
        self.service_name = service_name
        self.namespace: str = self.model.metadata.get("xmlNamespace", "")
        self.api_version: str = self.model.api_version
        self.operations: frozenset[str] = frozenset(self.model.operation_names)

    # --- requests -------------------------------------------------------------------------------

    def parse(self, body: bytes) -> tuple[str, dict[str, Any]]:
        """The operation name and its input as a nested dict, validated against the model."""
        try:
            text = body.decode("utf-8")
            if _BAD_ESCAPE.search(text):
                raise ValueError("a '%' that starts no escape")
            # errors="strict": an escape that is not UTF-8 is refused, not read as U+FFFD.
            pairs = parse_qsl(
                text, keep_blank_values=True, strict_parsing=bool(body), errors="strict"
            )
        except ValueError:  # UnicodeDecodeError included
            raise ValidationError("The request body is not a valid query string.") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            # Last-wins would let "Action=GetUser&Action=DeleteUser" read as either: refuse.
            counts = Counter(key for key, _ in pairs)
            repeated = sorted(key for key, n in counts.items() if n > 1)
            raise ValidationError(
                f"The parameter {', '.join(repeated)[:128]} is given more than once: "
                "each parameter may appear once."
            )
        action = params.pop("Action", None)
        version = params.pop("Version", None)
        if not action:
            raise MissingAction("Missing Action")
        if action not in self.operations or (version is not None and version != self.api_version):
            raise InvalidAction(
                f"Could not find operation {action} for version {version or self.api_version}"
            )
        shape = self.model.operation_model(action).input_shape
        if shape is None:
            return action, {}
        errors: list[str] = []
        value = self._decode_structure(shape, params, "", "", errors)
        if errors:
            count = len(errors)
            plural = "error" if count == 1 else "errors"
            raise ValidationError(f"{count} validation {plural} detected: " + "; ".join(errors))
        return action, value

    def _present(self, params: Mapping[str, str], key: str) -> bool:
        if key in params:
            return True
        dotted = key + "."
        return any(k.startswith(dotted) for k in params)

    def _decode(
        self, shape: Any, params: Mapping[str, str], key: str, path: str, errors: list[str]
    ) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self._decode_structure(shape, params, key + ".", path, errors)
        if kind == "list":
            return self._decode_list(shape, params, key, path, errors)
        if kind == "map":
            return self._decode_map(shape, params, key, path, errors)
        return self._decode_scalar(shape, params[key], path, errors)

    def _decode_structure(
        self, shape: Any, params: Mapping[str, str], prefix: str, path: str, errors: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            key = prefix + member.serialization.get("name", name)
            where = f"{path}.{_lower_camel(name)}" if path else _lower_camel(name)
            if self._present(params, key):
                out[name] = self._decode(member, params, key, where, errors)
            elif name in shape.required_members:
                errors.append(
                    f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
                )
        return out

    def _indices(self, params: Mapping[str, str], prefix: str) -> list[int]:
        found: set[int] = set()
        for k in params:
            if k.startswith(prefix):
                head = k[len(prefix) :].split(".", 1)[0]
                if head.isdigit():
                    found.add(int(head))
        return sorted(found)

    def _decode_list(
        self, shape: Any, params: Mapping[str, str], key: str, path: str, errors: list[str]
    ) -> list[Any]:
        member = shape.member
        if shape.serialization.get("flattened"):
            prefix = key + "."
        else:
            prefix = f"{key}.{member.serialization.get('name', 'member')}."
        items = [
            self._decode(member, params, f"{prefix}{i}", f"{path}.{i}.member", errors)
            for i in self._indices(params, prefix)
        ]
        self._check_size(len(items), shape, params.get(key, items), path, errors)
        return items

    def _decode_map(
        self, shape: Any, params: Mapping[str, str], key: str, path: str, errors: list[str]
    ) -> dict[str, Any]:
        prefix = key + "." if shape.serialization.get("flattened") else key + ".entry."
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[str, Any] = {}
        for i in self._indices(params, prefix):
            entry = f"{prefix}{i}."
            if entry + key_name not in params:
                continue
            k = self._decode_scalar(shape.key, params[entry + key_name], path, errors)
            if self._present(params, entry + value_name):
                out[k] = self._decode(shape.value, params, entry + value_name, path, errors)
        return out

    def _check_size(self, size: int, shape: Any, shown: Any, path: str, errors: list[str]) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            errors.append(
                f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {low}"
            )
        if high is not None and size > high:
            errors.append(
                f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {high}"
            )

    def _decode_scalar(self, shape: Any, raw: str, path: str, errors: list[str]) -> Any:
        kind = shape.type_name
        if kind == "string":
            shown = "***" if shape.metadata.get("sensitive") else raw
            self._check_size(len(raw), shape, shown, path, errors)
            enum = shape.metadata.get("enum")
            if enum and raw not in enum:
                errors.append(
                    f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy enum value set: [{', '.join(enum)}]"
                )
            pattern = shape.metadata.get("pattern")
            compiled = model_pattern(pattern) if pattern else None
            if compiled is not None and compiled.fullmatch(raw) is None:
                errors.append(
                    f"Value '{shown}' at '{path}' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {pattern}"
                )
            return raw
        if kind in ("integer", "long"):
            # ASCII digits within the type's range: int() alone would take "1_000", " 7" and
            # a 30-digit number that no IAM or STS integer can hold.
            bits = 31 if kind == "integer" else 63
            if len(raw) <= 20 and _INTEGER.fullmatch(raw) and -(2**bits) <= int(raw) < 2**bits:
                return int(raw)
            errors.append(
                f"Value '{raw[:64]}' at '{path}' failed to satisfy constraint: Member must be "
                f"a {bits + 1}-bit integer"
            )
            return None
        if kind == "boolean":
            if raw not in ("true", "false"):
                errors.append(f"Value '{raw}' at '{path}' failed to satisfy constraint: boolean")
            return raw == "true"
        if kind == "timestamp":
            try:
                return datetime.fromisoformat(raw.replace("Z", "+00:00"))
            except ValueError:
                errors.append(f"Value '{raw}' at '{path}' failed to satisfy constraint: timestamp")
                return None
        if kind == "blob":
            try:
                return base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                errors.append(f"Value at '{path}' failed to satisfy constraint: base64")
                return None
        return raw  # float/double: not used by IAM or STS inputs

    # --- responses ------------------------------------------------------------------------------

    def serialize(self, operation: str, output: Mapping[str, Any], request_id: str) -> bytes:
        op = self.model.operation_model(operation)
        parts = [f'<{operation}Response xmlns="{self.namespace}">']
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            body = self._encode_members(shape, output)
            parts.append(f"<{wrapper}>{body}</{wrapper}>" if wrapper else body)
        parts.append(
            f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>"
            f"</{operation}Response>"
        )
        return "".join(parts).encode("utf-8")

    def _encode_members(self, shape: Any, value: Mapping[str, Any]) -> str:
        out: list[str] = []
        for name, member in shape.members.items():
            item = value.get(name)
            if item is None:
                continue
            tag = member.serialization.get("name", name)
            if member.type_name == "list" and member.serialization.get("flattened"):
                out.extend(f"<{tag}>{self._encode(member.member, v)}</{tag}>" for v in item)
            else:
                out.append(f"<{tag}>{self._encode(member, item)}</{tag}>")
        return "".join(out)

    def _encode(self, shape: Any, value: Any) -> str:
        kind = shape.type_name
        if kind == "structure":
            return self._encode_members(shape, value)
        if kind == "list":
            tag = shape.member.serialization.get("name", "member")
            return "".join(f"<{tag}>{self._encode(shape.member, v)}</{tag}>" for v in value)
        if kind == "map":
            k_tag = shape.key.serialization.get("name", "key")
            v_tag = shape.value.serialization.get("name", "value")
            return "".join(
                f"<entry><{k_tag}>{escape(str(k))}</{k_tag}>"
                f"<{v_tag}>{self._encode(shape.value, v)}</{v_tag}></entry>"
                for k, v in value.items()
            )
        if kind == "boolean":
            return "true" if value else "false"
        if kind == "timestamp":
            return _iso8601(value)
        if kind == "blob":
            return base64.b64encode(value).decode("ascii")
        text = str(value)
        if kind == "string" and shape.name == _POLICY_DOCUMENT_SHAPE:
            text = quote(text, safe="")
        return escape(text)

    def serialize_error(self, err: AwsError, request_id: str) -> tuple[int, bytes]:
        code = err.query_code or err.code
        kind = "Receiver" if err.is_fault else "Sender"
        body = (
            f'<ErrorResponse xmlns="{self.namespace}"><Error><Type>{kind}</Type>'
            f"<Code>{escape(code)}</Code><Message>{escape(err.message)}</Message></Error>"
            f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
        )
        return err.status, body.encode("utf-8")
