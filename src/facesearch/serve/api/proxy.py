"""Trusted reverse proxies: the client's address and scheme behind a TLS proxy.

Only when the peer (the TCP connection's other end) is one of the configured trusted proxies
(``FACESEARCH_TRUSTED_PROXIES``: addresses or CIDR networks, none by default) are its
``Forwarded`` (RFC 7239) or ``X-Forwarded-For`` / ``X-Forwarded-Proto`` headers believed. The
client is then the right-most address of the chain that is not itself a trusted proxy (a
client cannot forge it by sending its own header: the proxy appends the address it saw), and
the scheme is what the nearest proxy says. Everything downstream (the audit log's origin, the
login limits, ``Secure`` cookies) reads the rewritten ASGI scope. Any other peer's headers are
ignored: its own address is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

FORWARDING_HEADERS = frozenset({"forwarded", "x-forwarded-for", "x-forwarded-proto"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = text.strip().strip('"')
    if value.startswith("["):  # [v6]:port
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_trusted(host: str, networks: Sequence[Network]) -> bool:
    address = _address(host)
    return address is not None and any(address in net for net in networks)


def _forwarded(value: str) -> tuple[list[str], str | None]:
    """The ``for=`` chain and the last ``proto=`` of a ``Forwarded`` header."""
    chain: list[str] = []
    proto: str | None = None
    for element in value.split(","):
        for pair in element.split(";"):
            name, _, item = pair.strip().partition("=")
            name = name.strip().lower()
            if name == "for":
                chain.append(item.strip().strip('"'))
            elif name == "proto":
                proto = item.strip().strip('"').lower()
    return chain, proto


def client_and_scheme(
    peer: str, headers: dict[str, str], networks: Sequence[Network]
) -> tuple[str, str | None]:
    """The client's address and the scheme the client used (None: keep the connection's),
    believing the forwarding headers only from a trusted ``peer``."""
    if not networks or not is_trusted(peer, networks):
        return peer, None
    if "forwarded" in headers:
        chain, proto = _forwarded(headers["forwarded"])
    else:
        chain = [p.strip() for p in headers.get("x-forwarded-for", "").split(",") if p.strip()]
        protos = [p.strip().lower() for p in headers.get("x-forwarded-proto", "").split(",")]
        proto = protos[-1] if protos and protos[-1] else None
    client = peer
    for hop in reversed(chain):
        address = _address(hop)
        if address is None:
            break  # an obfuscated or garbled hop: the last good one stands
        client = str(address)
        if not any(address in net for net in networks):
            break
    return client, proto if proto in ("http", "https") else None


class TrustedProxyMiddleware:
    """Rewrites the scope's client and scheme from a trusted proxy's headers (pure ASGI)."""

    def __init__(self, app: ASGIApp, trusted: Sequence[str] = ()) -> None:
        self.app = app
        self.networks = parse_networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.networks:
            peer = scope.get("client")
            if peer:
                headers: dict[str, str] = {}
                for k, v in scope.get("headers", []):
                    name = k.decode("latin-1").lower()
                    if name in FORWARDING_HEADERS:  # repeated lines are one list
                        value = v.decode("latin-1")
                        headers[name] = f"{headers[name]}, {value}" if name in headers else value
                client, scheme = client_and_scheme(str(peer[0]), headers, self.networks)
                scope = dict(scope)
                scope["client"] = (client, int(peer[1]) if client == peer[0] else 0)
                if scheme is not None:
                    scope["scheme"] = (
                        scheme if scope["type"] == "http" else scheme.replace("http", "ws")
                    )
        await self.app(scope, receive, send)
