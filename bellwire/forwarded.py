"""Pure: the client address of a request that came through trusted reverse proxies.

A proxy in front of bellwire makes every client share the proxy's address. When the peer is one
of ``console_trusted_proxies``, the address it was given is read from the ``Forwarded`` header
(RFC 7239, its ``for=`` parameters) or ``X-Forwarded-For``: the list of hops is walked from the
right (the hop nearest bellwire) over trusted proxies, and the first address that is not a
trusted proxy is the client's. Everything left of it was written by that client and cannot be
believed. A peer that is not trusted is the client, whatever the headers say.

Where the chain cannot be read (``for=unknown``, an obfuscated ``_name``, a value that is not
an address), the walk stops at the last trusted hop: its address stands for the client, as it
would without this module. When both headers are present and name different clients, one of
them was passed through from the client unchecked (a proxy that appends to one does not remove
the other), so neither is believed and the peer's address is used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A header listing more hops than this is not read further (from the right): no real chain of
# proxies is this long, and a client could send thousands.
MAX_HOPS = 32


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def parse_trusted(spec: str) -> TrustedProxies:
    """``"10.0.0.1, 192.168.0.0/16, ::1"``: addresses or CIDR blocks, comma-separated.

    Raises ValueError naming the entry that is neither."""
    networks: list[IPNetwork] = []
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR block") from None
    return TrustedProxies(tuple(networks))


def parse_address(value: str) -> IPAddress | None:
    """An address as a hop list writes it: ``192.0.2.1``, ``192.0.2.1:443``, ``2001:db8::1``,
    ``[2001:db8::1]`` or ``[2001:db8::1]:443``; None for anything else. An IPv4-mapped IPv6
    address is its IPv4 address (a dual-stack socket's peer)."""
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1 :] and not _port(text[end + 1 :])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port
        host, port = text.split(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _port(rest: str) -> bool:
    return rest.startswith(":") and rest[1:].isdigit()


def _split_quoted(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double-quoted strings (RFC 7230 quoted-string)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        out: list[str] = []
        escaped = False
        for char in inner:
            if char == "\\" and not escaped:
                escaped = True
                continue
            escaped = False
            out.append(char)
        return "".join(out)
    return value


def forwarded_hops(headers: Sequence[str]) -> list[str | None]:
    """The ``for=`` value of each element of ``Forwarded`` headers, in order; None for an
    element without one."""
    hops: list[str | None] = []
    for header in headers:
        for element in _split_quoted(header, ","):
            if not element.strip():
                continue
            found: str | None = None
            for pair in _split_quoted(element, ";"):
                name, sep, value = pair.partition("=")
                if sep and name.strip().lower() == "for":
                    found = _unquote(value)
            hops.append(found)
    return hops


def x_forwarded_for_hops(headers: Sequence[str]) -> list[str | None]:
    return [entry.strip() for header in headers for entry in header.split(",") if entry.strip()]


def _walk(peer: IPAddress, hops: Sequence[str | None], trusted: TrustedProxies) -> IPAddress:
    """From the right: the first hop that is not a trusted proxy; the last trusted one when the
    chain cannot be read further."""
    current = peer
    for hop in list(reversed(hops))[:MAX_HOPS]:
        address = None if hop is None else parse_address(hop)
        if address is None:
            return current
        current = address
        if not trusted.trusts(address):
            return address
    return current


def client_address(
    peer: str | None,
    forwarded: Sequence[str],
    x_forwarded_for: Sequence[str],
    trusted: TrustedProxies,
) -> str | None:
    """The client's address, canonical (``2001:db8::1``, never ``::ffff:192.0.2.1``).

    ``peer`` is the socket's remote address; ``forwarded`` and ``x_forwarded_for`` every value
    of those headers, in the order received. Without a trusted peer, the peer as given."""
    address = None if peer is None else parse_address(peer)
    if address is None:
        return peer
    if not trusted.trusts(address):
        return str(address)
    by_forwarded = _walk(address, forwarded_hops(forwarded), trusted) if forwarded else None
    by_xff = (
        _walk(address, x_forwarded_for_hops(x_forwarded_for), trusted) if x_forwarded_for else None
    )
    if by_forwarded is not None and by_xff is not None and by_forwarded != by_xff:
        return str(address)
    for chosen in (by_forwarded, by_xff):
        if chosen is not None:
            return str(chosen)
    return str(address)
