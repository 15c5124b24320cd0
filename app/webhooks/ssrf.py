"""Server-side request forgery guard for webhook URLs (DESIGN.md §12): a URL is resolved once, every address
it names must be public, and the delivery connects to an address that was checked (never re-resolving,
so a name that changes its answer between the check and the connection cannot reach inside)."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class UnsafeUrl(ValueError):
    """A webhook URL that must not be called: its reason is the message."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect (one of addresses) and what to ask for."""

    scheme: str
    host: str  # as written in the URL: the Host header and the TLS server name
    port: int
    path: str  # path and query
    addresses: tuple[str, ...]


def parse(url: str, require_https: bool) -> tuple[str, str, int, str]:
    """Return (scheme, host, port, path) of url; raises UnsafeUrl for another scheme, credentials or no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    allowed = ("https",) if require_https else ("https", "http")
    if parts.scheme not in allowed:
        raise UnsafeUrl(f"the URL must start with {' or '.join(s + '://' for s in allowed)}")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL must not carry credentials")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def check(url: str, allow_private: bool, require_https: bool) -> Target:
    """Return the checked target of url; raises UnsafeUrl (bad URL, unresolvable host, or an address that is
    private, loopback, link-local, metadata, multicast or reserved while allow_private is off)."""
    scheme, host, port, path = parse(url, require_https)
    addresses = resolve(host, port)
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeUrl(f"{host} resolves to an address that is not public")
    return Target(scheme, host, port, path, addresses)


def resolve(host: str, port: int) -> tuple[str, ...]:
    """Return every address host resolves to (a literal address as itself); raises UnsafeUrl if none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeUrl(f"{host} does not resolve: {exc}") from None
    return tuple(dict.fromkeys(info[4][0] for info in infos))


# IPv6 prefixes that carry an IPv4 address a gateway may forward to (NAT64, SIIT, 6to4, IPv4-compatible).
EMBEDDING_IPV4 = [ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")]


def is_public(address: str) -> bool:
    """Return True for a globally routable unicast address; an IPv6 address that embeds an IPv4 one (mapped,
    NAT64, SIIT, 6to4, Teredo, IPv4-compatible) is judged as that IPv4 address too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not (ip.is_global and not ip.is_multicast):
        return False
    return all(is_public(str(inner)) for inner in _embedded_ipv4(ip))


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    inner = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in EMBEDDING_IPV4):
        inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [address for address in inner if address is not None]
