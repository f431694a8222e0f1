"""Pure: the map from AWS resources bellwire cannot reach to URLs it can.

A channel flow names a Lambda function, a streaming configuration a Kinesis stream, a bot a Lex
bot alias, a push endpoint a Pinpoint application. A self-hosted server reaches none of them, so
the operator maps each ARN to a URL of their own (a webhook, a Redis stream, a NATS subject):
one ``[resources]`` TOML table of ``"ARN" = "URL"`` pairs, ``BELLWIRE_RESOURCES`` (pairs
separated by whitespace) and a repeatable ``--resource ARN=URL`` flag. Later layers win per ARN.
What a feature accepts of a URL (a flow needs http(s), a stream also redis:// or nats://) is the
feature's to check, with :meth:`ResourceMap.require`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SCHEMES = frozenset({"http", "https", "redis", "rediss", "nats"})


class ResourceError(ValueError):
    """A mapping that does not parse, or an ARN a feature needs that has no usable mapping."""


def _check_arn(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[2] or not parts[5]:
        raise ResourceError(f"{arn!r} is not an ARN (arn:partition:service:region:account:...)")
    return arn


def _check_url(arn: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc:
        raise ResourceError(
            f"the URL for {arn} must be absolute with a scheme among "
            f"{', '.join(sorted(SCHEMES))}, got {url!r}"
        )
    return url


@dataclass(frozen=True, slots=True)
class ResourceMap:
    """ARN -> URL, validated. Immutable; :meth:`merged` makes a new one."""

    urls: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: Mapping[str, object] | Iterable[str] | str) -> ResourceMap:
        """From a TOML table, a list of ``ARN=URL`` flags, or a whitespace-separated string."""
        pairs: list[tuple[str, object]]
        if isinstance(source, str):
            pairs = [_split(item) for item in source.split()]
        elif isinstance(source, Mapping):
            pairs = list(source.items())
        else:
            pairs = [_split(item) for item in source]
        urls: dict[str, str] = {}
        for arn, url in pairs:
            if not isinstance(url, str):
                raise ResourceError(f"the URL for {arn} must be a string, got {url!r}")
            urls[_check_arn(arn)] = _check_url(arn, url)
        return cls(urls)

    def merged(self, later: ResourceMap) -> ResourceMap:
        return ResourceMap({**self.urls, **later.urls})

    def url(self, arn: str) -> str | None:
        return self.urls.get(arn)

    def require(self, arn: str, *, what: str, schemes: Iterable[str]) -> str:
        """The URL ``arn`` maps to, if its scheme is one ``what`` can use; else a message that
        says how to map it."""
        allowed = sorted(set(schemes))
        url = self.urls.get(arn)
        if url is None:
            raise ResourceError(
                f"{what} {arn} is not mapped to a URL: add it to the [resources] table of the "
                f"configuration or start the server with --resource {arn}=URL "
                f"({' or '.join(s + '://' for s in allowed)})"
            )
        if urlsplit(url).scheme not in allowed:
            raise ResourceError(
                f"{what} {arn} is mapped to {url!r}, but a {what} needs one of "
                f"{', '.join(s + '://' for s in allowed)}"
            )
        return url

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self.urls.items()))

    def __len__(self) -> int:
        return len(self.urls)

    def __str__(self) -> str:
        return " ".join(f"{arn}={url}" for arn, url in self) or "none"


def _split(item: str) -> tuple[str, str]:
    # ARNs hold no '=', URLs may (in a query), so the first '=' separates them.
    arn, sep, url = item.partition("=")
    if not sep or not arn or not url:
        raise ResourceError(f"{item!r} is not ARN=URL")
    return arn.strip(), url.strip()
