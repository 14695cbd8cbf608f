"""Notification webhooks (`balance.low`, `key.budget_exhausted`; docs/admin.md), signed as
the SIP webhooks are (`calls.webhooks`, Standard Webhooks), to the user's own URL (set by
an admin: a user cannot point the server at an address of their choosing) and to the
operator's `REALTIME2_NOTIFY_WEBHOOK_URL`.

One task per process looks for crossings every `REALTIME2_NOTIFY_EVERY_S`
(`accounts.alerts` claims each one in the database, so replicas never send it twice) and
delivers them with bounded concurrency; a slow receiver delays only its own deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from realtime2.accounts.alerts import Alert, due_alerts
from realtime2.calls.webhooks import deliver
from realtime2.config import Settings
from realtime2.errors import ApiError
from realtime2.state import Services

log = logging.getLogger(__name__)
DELIVERIES_AT_ONCE: Final = 8
MAX_PENDING: Final = 1000


def checked_webhook_url(url: str | None) -> str | None:
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ApiError(
            400, "invalid_value", "'webhook_url' must be an http(s) URL.", param="webhook_url"
        )
    return url


def event_of(alert: Alert, now: float) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "created_at": int(now),
        "type": alert.type,
        "data": alert.data,
    }


def destinations(alert: Alert, settings: Settings) -> list[tuple[str, str]]:
    found = []
    if alert.notify_url and alert.notify_secret:
        found.append((alert.notify_url, alert.notify_secret))
    if settings.notify_webhook_url and settings.notify_webhook_secret:
        found.append((settings.notify_webhook_url, settings.notify_webhook_secret))
    return found


async def notify_once(
    services: Services, client: httpx.AsyncClient, slots: asyncio.Semaphore
) -> list[asyncio.Task[bool]]:
    """Claim the due notifications and start delivering them (bounded)."""
    alerts = await due_alerts(services.db, datetime.now(UTC))
    tasks: list[asyncio.Task[bool]] = []

    async def send(url: str, secret: str, event: dict[str, Any]) -> bool:
        async with slots:
            delivered = await deliver(client, url, secret, event)
        if not delivered:
            log.warning("notification %s (%s) was not delivered", event["id"], event["type"])
        return delivered

    for alert in alerts:
        event = event_of(alert, time.time())
        for url, secret in destinations(alert, services.settings):
            if len(tasks) < MAX_PENDING:
                tasks.append(asyncio.create_task(send(url, secret, event)))
    return tasks


async def run_notifications(services: Services) -> None:
    """The watcher task (app lifespan)."""
    slots = asyncio.Semaphore(DELIVERIES_AT_ONCE)
    pending: set[asyncio.Task[bool]] = set()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        try:
            while True:
                try:
                    if len(pending) < MAX_PENDING:
                        for task in await notify_once(services, client, slots):
                            pending.add(task)
                            task.add_done_callback(pending.discard)
                except Exception:
                    log.exception("notification check failed")
                await asyncio.sleep(services.settings.notify_every_s)
        finally:
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
