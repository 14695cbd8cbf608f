"""SIP endpoints: a user's SIP URI, its webhook and who may send INVITEs to it.

`realtime2 sip add EMAIL --webhook-url URL` creates one: the URI user part is random
(`rt2_…`), so a trunk pointed at `sip:rt2_…@host:port` reaches this user's application and
a scanner guessing `sip:100@host` finds nothing (404).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from realtime2.calls.webhooks import new_secret
from realtime2.db.engine import Database
from realtime2.db.models import SipEndpoint


class InvalidEndpointError(ValueError):
    pass


@dataclass(frozen=True)
class Endpoint:
    id: str
    user_id: int
    uri_user: str
    webhook_url: str
    webhook_secret: str
    allowed_sources: tuple[str, ...] | None

    def allows(self, address: str) -> bool:
        if self.allowed_sources is None:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.allowed_sources)


def _checked(webhook_url: str, allowed_sources: Sequence[str] | None) -> list[str] | None:
    parts = urlsplit(webhook_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(webhook_url) > 2000:
        raise InvalidEndpointError("the webhook URL must be an http(s) URL")
    if allowed_sources is None:
        return None
    nets = []
    for source in allowed_sources:
        try:
            nets.append(str(ipaddress.ip_network(source.strip(), strict=False)))
        except ValueError:
            raise InvalidEndpointError(f"not an address or network: {source!r}") from None
    return nets


def _endpoint(row: SipEndpoint) -> Endpoint:
    sources = tuple(row.allowed_sources) if row.allowed_sources is not None else None
    return Endpoint(row.id, row.user_id, row.uri_user, row.webhook_url, row.webhook_secret, sources)


class SipEndpoints:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, user_id: int, webhook_url: str, allowed_sources: Sequence[str] | None = None
    ) -> Endpoint:
        nets = _checked(webhook_url, allowed_sources)
        row = SipEndpoint(
            id=f"sipe_{secrets.token_hex(10)}",
            user_id=user_id,
            uri_user=f"rt2_{secrets.token_hex(8)}",
            webhook_url=webhook_url,
            webhook_secret=new_secret(),
            allowed_sources=nets,
        )
        async with self.db.transaction() as tx:
            tx.add(row)
        return _endpoint(row)

    async def find(self, uri_user: str) -> Endpoint | None:
        if not uri_user or len(uri_user) > 64:
            return None
        async with self.db.sessions() as tx:
            row = (
                await tx.execute(select(SipEndpoint).where(SipEndpoint.uri_user == uri_user))
            ).scalar_one_or_none()
            if row is None or row.disabled_at is not None:
                return None
            return _endpoint(row)

    async def of_user(self, user_id: int) -> list[Endpoint]:
        async with self.db.sessions() as tx:
            rows = await tx.execute(select(SipEndpoint).where(SipEndpoint.user_id == user_id))
            return [_endpoint(r) for r in rows.scalars()]
