"""Which addresses the server offers as ICE candidates, and which STUN server it uses.

aioice gathers host candidates from every interface except loopback, and aiortc adds a
public STUN server when none is configured. A server must offer exactly the addresses the
operator chose (`REALTIME2_WEBRTC_HOSTS`, default 127.0.0.1) and contact nothing it was not
told to, so gathering runs inside `offered_hosts(...)`, which replaces aioice's address
lookup for that task (and the tasks it starts) only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

_hosts: ContextVar[tuple[str, ...] | None] = ContextVar("realtime2_ice_hosts", default=None)
_system_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    hosts = _hosts.get()
    if hosts is None:
        return _system_addresses(use_ipv4, use_ipv6)
    return [h for h in hosts if (use_ipv6 if ":" in h else use_ipv4)]


def _install() -> None:
    aioice.ice.get_host_addresses = _host_addresses


@contextlib.contextmanager
def offered_hosts(hosts: Sequence[str]) -> Iterator[None]:
    """Gather ICE host candidates on exactly these local addresses within the block."""
    _install()
    token = _hosts.set(tuple(hosts))
    try:
        yield
    finally:
        _hosts.reset(token)


def rtc_configuration(stun: str = "") -> RTCConfiguration:
    """No ICE servers unless one is configured (an empty list stops aiortc's default)."""
    servers = [RTCIceServer(urls=stun)] if stun else []
    return RTCConfiguration(iceServers=servers)
