"""Which MCP servers a session may reach.

`server_url` is chosen by the client, so without a check this server would fetch any URL it
is given (server-side request forgery). The operator lists the allowed hosts
(`REALTIME2_MCP_ALLOWED_HOSTS`, default loopback only); a URL whose host is not listed is
refused before anything is resolved or fetched. A listed host must still resolve only to
addresses outside the link-local / cloud-metadata ranges, which are never allowed, whatever
the list says. URLs with credentials in them (`https://user:pw@…`) are refused: they would
end up in logs; `headers` / `authorization` are the way to send a secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_ALLOWED_HOSTS = "localhost,127.0.0.1,::1"

# Never reachable: link-local (cloud metadata at 169.254.169.254, fe80::/10), AWS's IPv6
# metadata address, Alibaba's metadata address, "this network", unspecified and multicast.
_NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
        "0.0.0.0/8",
        "::/128",
        "224.0.0.0/4",
        "ff00::/8",
    )
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class McpHostRefused(Exception):
    """The URL may not be fetched; the message says why (and never carries credentials)."""


def never_allowed(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _NEVER)


@dataclass(frozen=True)
class McpHostPolicy:
    """The allowed hosts: exact names or IP literals, `*.example.com` for subdomains."""

    allowed: frozenset[str]

    @classmethod
    def parse(cls, hosts: str) -> McpHostPolicy:
        return cls(frozenset(h.strip().strip("[]").lower() for h in hosts.split(",") if h.strip()))

    def host_listed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.allowed:
            return True
        return any(entry.startswith("*.") and host.endswith(entry[1:]) for entry in self.allowed)

    def check_url(self, url: str) -> str:
        """The URL's host if the URL may be tried (before resolving); raises otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port  # raises on a malformed port
        except ValueError:
            raise McpHostRefused("server_url is not a valid URL") from None
        del port
        if parts.scheme not in ("http", "https"):
            raise McpHostRefused("server_url must be an http or https URL")
        if parts.username is not None or parts.password is not None:
            raise McpHostRefused(
                "server_url must not carry credentials; send them in headers or authorization"
            )
        host = (parts.hostname or "").lower()
        if not host:
            raise McpHostRefused("server_url has no host")
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and never_allowed(literal):
            raise McpHostRefused(f"MCP host {host} is a link-local or metadata address")
        if not self.host_listed(host):
            raise McpHostRefused(
                f"MCP host {host} is not allowed on this server (REALTIME2_MCP_ALLOWED_HOSTS)"
            )
        return host

    async def check(self, url: str) -> None:
        """`check_url`, then every address the host resolves to must be allowed."""
        host = self.check_url(url)
        port = urlsplit(url).port or 443
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise McpHostRefused(f"MCP host {host} does not resolve") from None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if never_allowed(address):
                raise McpHostRefused(
                    f"MCP host {host} resolves to a link-local or metadata address"
                )
