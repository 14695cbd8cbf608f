"""Webhooks signed the way OpenAI signs them (Standard Webhooks), and their delivery.

A secret is `whsec_` + base64 of 32 random bytes. Each delivery carries `webhook-id`,
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed with the decoded secret), so the `openai`
SDK's `client.webhooks.unwrap(body, headers, secret=...)` verifies them unchanged.

Delivery retries an undelivered webhook (a connection error, a timeout or a non-2xx answer)
with backoff, under the same id and a fresh timestamp and signature, until it is delivered,
the attempts run out or the caller's deadline (a ringing call's) passes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any, Final

import httpx

log = logging.getLogger(__name__)

SECRET_PREFIX: Final = "whsec_"
RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 4.0)
TIMEOUT_SECONDS: Final = 5.0


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def sign(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    digest = hmac.new(
        _key(secret), f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256
    ).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    secret: str, webhook_id: str, body: str, *, now: Callable[[], float] = time.time
) -> dict[str, str]:
    timestamp = int(now())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
        "content-type": "application/json",
    }


def new_webhook_id() -> str:
    return f"wh_{secrets.token_hex(12)}"


def call_incoming_event(
    call_id: str, sip_headers: list[dict[str, str]], *, now: Callable[[], float] = time.time
) -> dict[str, Any]:
    """The `realtime.call.incoming` event, shaped as OpenAI sends it (the SDK's
    `RealtimeCallIncomingWebhookEvent`)."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "created_at": int(now()),
        "type": "realtime.call.incoming",
        "data": {"call_id": call_id, "sip_headers": sip_headers, "sip_media_security": "rtp"},
    }


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    event: dict[str, Any],
    *,
    retry_delays: tuple[float, ...] = RETRY_DELAYS,
    deadline: float | None = None,
) -> bool:
    """POST the event until a 2xx answer; False when every attempt failed (or the
    monotonic `deadline` passed). The URL's answer body is never logged."""
    body = json.dumps(event, separators=(",", ":"))
    webhook_id = new_webhook_id()
    attempts = len(retry_delays) + 1
    for attempt in range(attempts):
        try:
            response = await client.post(
                url,
                content=body,
                headers=signed_headers(secret, webhook_id, body),
                timeout=TIMEOUT_SECONDS,
            )
            if 200 <= response.status_code < 300:
                return True
            log.info(
                "webhook %s: attempt %d answered %d", webhook_id, attempt + 1, response.status_code
            )
        except httpx.HTTPError as exc:
            log.info(
                "webhook %s: attempt %d failed: %s", webhook_id, attempt + 1, type(exc).__name__
            )
        if attempt == attempts - 1:
            break
        delay = retry_delays[attempt]
        if deadline is not None and time.monotonic() + delay >= deadline:
            break
        await asyncio.sleep(delay)
    return False
