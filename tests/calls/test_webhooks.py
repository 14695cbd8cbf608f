"""Webhooks signed as OpenAI signs them: the `openai` SDK's `unwrap` verifies them, and an
undelivered one is retried under the same id."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import OpenAI

from realtime2.calls.webhooks import (
    call_incoming_event,
    deliver,
    new_secret,
    signed_headers,
)


def test_the_sdk_verifies_our_signature() -> None:
    secret = new_secret()
    event = call_incoming_event("rtc_1", [{"name": "From", "value": "<sip:a@b>"}])
    body = json.dumps(event)
    headers = signed_headers(secret, "wh_1", body)
    client = OpenAI(api_key="unused", webhook_secret=secret)
    unwrapped = client.webhooks.unwrap(body, headers)
    assert unwrapped.type == "realtime.call.incoming"
    assert unwrapped.data.call_id == "rtc_1"
    with pytest.raises(Exception, match="signature"):
        client.webhooks.unwrap(body.replace("rtc_1", "rtc_2"), headers)
    with pytest.raises(Exception, match="signature"):
        client.webhooks.unwrap(body, headers, secret=new_secret())


async def test_retried_until_delivered_under_one_id() -> None:
    secret = new_secret()
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if len(seen) < 3 else 200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        event = call_incoming_event("rtc_2", [])
        ok = await deliver(client, "http://hook.test/", secret, event, retry_delays=(0, 0, 0))
    assert ok and len(seen) == 3
    assert len({r.headers["webhook-id"] for r in seen}) == 1
    sdk = OpenAI(api_key="unused", webhook_secret=secret)
    for request in seen:
        sdk.webhooks.unwrap(request.content.decode(), dict(request.headers))


async def test_gives_up_after_the_attempts() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        ok = await deliver(
            client,
            "http://hook.test/",
            new_secret(),
            call_incoming_event("c", []),
            retry_delays=(0, 0),
        )
    assert not ok and calls == 3
