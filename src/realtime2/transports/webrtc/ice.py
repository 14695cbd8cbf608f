"""Which addresses the server offers as ICE candidates, which STUN server it uses, and
which of a client's candidates it will contact.

aioice gathers host candidates from every interface except loopback, and aiortc adds a
public STUN server when none is configured. A server must offer exactly the addresses the
operator chose (`REALTIME2_WEBRTC_HOSTS`, default 127.0.0.1) and contact nothing it was not
told to, so gathering runs inside `offered_hosts(...)`, which replaces aioice's address
lookup for that task (and the tasks it starts) only.

The client's candidates are addresses the server sends STUN checks to, so an offer is
screened first (`screen_candidates`): at most `MAX_REMOTE_CANDIDATES`, and none on private,
loopback or link-local addresses (nor mDNS names) unless allowed. A server offering a
public address does not need them: a peer behind NAT sends its own checks, and aioice
learns its address from those (a peer-reflexive candidate).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Final

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


MAX_REMOTE_CANDIDATES: Final = 16
_CANDIDATE: Final = "a=candidate:"


def _is_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def allows_private_candidates(hosts: Sequence[str], setting: bool | None) -> bool:
    """The operator's choice, or by default: yes when every offered host is non-public
    (a dev machine or a private network, where the peers are private too)."""
    if setting is not None:
        return setting
    return bool(hosts) and not any(_is_public(h) for h in hosts)


def _acceptable(address: str, allow_private: bool) -> bool:
    if address.lower().endswith(".local"):
        return allow_private  # resolving an mDNS name queries the local network
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a DNS name: the server would resolve whatever the client chose
    if ip.is_multicast or ip.is_unspecified:
        return False
    return ip.is_global or allow_private


def screen_candidates(
    offer: str, *, allow_private: bool, limit: int = MAX_REMOTE_CANDIDATES
) -> tuple[str, int]:
    """The offer without the candidates the server will not contact; and how many went.
    A candidate repeated in another media section (same address) is not counted twice."""
    kept: set[tuple[str, str, str]] = set()
    dropped = 0
    lines: list[str] = []
    for line in offer.splitlines():
        if line.startswith(_CANDIDATE):
            fields = line[len(_CANDIDATE) :].split()
            # transport, address, port: "foundation component transport priority address
            # port typ type ..." (RFC 8839); a malformed line is dropped.
            target = (fields[2].lower(), fields[4], fields[5]) if len(fields) >= 8 else None
            if target is None or (
                target not in kept
                and (len(kept) >= limit or not _acceptable(target[1], allow_private))
            ):
                dropped += 1
                continue
            kept.add(target)
        lines.append(line)
    if dropped:
        # Without end-of-candidates aioice keeps the check list open, so a peer whose
        # candidates were all skipped still connects through its own checks (peer-reflexive);
        # a call that never connects ends at the connect timeout.
        lines = [line for line in lines if line != "a=end-of-candidates"]
    return "\r\n".join(lines) + "\r\n", dropped
