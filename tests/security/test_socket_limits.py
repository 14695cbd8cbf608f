"""WebSocket admission: handshakes spend the user's rate limit (all keys together, every
socket route), and a socket that only the login cookie authenticates must come from this
server's own origin (cross-site WebSocket hijacking)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from realtime2.state import Services
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.server import LiveServer, build_services, serve_app


async def _refused(url: str, **kwargs: Any) -> tuple[int, str, str]:
    """(status, error code, Retry-After) of a handshake the server must refuse."""
    with pytest.raises(websockets.exceptions.InvalidStatus) as info:
        async with connect(url, **kwargs):
            pass
    response = info.value.response
    body = json.loads(response.body or b"{}")
    return response.status_code, body["error"]["code"], response.headers.get("Retry-After", "")


async def _opens(url: str, **kwargs: Any) -> None:
    async with connect(url, **kwargs) as ws:
        assert json.loads(await ws.recv())["type"] == "session.created"


async def _live(tmp_path: Path, **settings: object) -> tuple[LiveServer, Any]:
    svc = await build_services(tmp_path, fake_engines(), **settings)
    server = serve_app(svc)
    return await anext(server), server


async def test_handshakes_share_one_per_user_limit_across_keys_and_routes(
    tmp_path: Path,
) -> None:
    live, server = await _live(tmp_path, rate_limit_rpm=3)
    try:
        svc: Services = live.services
        acct = await new_account(svc, credits=10_000)
        _, second = await svc.keys.create(acct.user_id, "second")
        _, third = await svc.keys.create(acct.user_id, "third")
        realtime = live.ws_url + "?model=realtime-mini"
        sideband = live.ws_url + "?call_id=rtc_nope"
        translations = live.url.replace("http://", "ws://") + "/v1/realtime/translations"
        # Three handshakes, three different keys: the user's three requests for the minute.
        await _opens(realtime, additional_headers={"x-api-key": acct.key})
        assert (await _refused(sideband, additional_headers={"x-api-key": second}))[:2] == (
            404,
            "call_not_found",
        )
        await _opens(realtime, additional_headers={"x-api-key": third})
        # Every socket route now refuses this user, whichever key, before accepting.
        for url, key in ((translations, acct.key), (sideband, second), (realtime, third)):
            status, code, retry = await _refused(url, additional_headers={"x-api-key": key})
            assert (status, code) == (429, "rate_limit_exceeded")
            assert 1 <= int(retry) <= 20
        # Another user is unaffected.
        other = await new_account(svc, credits=10_000)
        await _opens(realtime, additional_headers={"x-api-key": other.key})
    finally:
        await anext(server, None)
        await live.services.close()


async def test_cookie_sockets_must_come_from_our_origin(tmp_path: Path) -> None:
    live, server = await _live(tmp_path, allowed_origins="https://App.example.com/")
    try:
        svc: Services = live.services
        acct = await new_account(svc, credits=10_000)
        token, _ = await svc.web_sessions.create(acct.user_id)
        cookie = {"Cookie": f"realtime2_session={token}"}
        realtime = live.ws_url + "?model=realtime-mini"
        own = live.url  # http://127.0.0.1:port, what our own pages send
        # A hostile page (another site, or a sibling subdomain) and a missing/opaque Origin.
        for origin in ("https://evil.example.com", "http://127.0.0.1:1", "null", None):
            kwargs: dict[str, Any] = {"additional_headers": cookie}
            if origin is not None:
                kwargs["origin"] = origin
            assert (await _refused(realtime, **kwargs))[:2] == (403, "origin_not_allowed")
        # The sideband route is covered by the same check (403, not its own 404).
        status, code, _ = await _refused(
            live.ws_url + "?call_id=rtc_nope", additional_headers=cookie, origin="https://x.test"
        )
        assert (status, code) == (403, "origin_not_allowed")
        # Our own origin, and one on the allow-list, are accepted.
        await _opens(realtime, additional_headers=cookie, origin=own)
        await _opens(realtime, additional_headers=cookie, origin="https://app.example.com")
        # An API key is an explicit credential: no Origin requirement.
        await _opens(
            realtime, additional_headers={"x-api-key": acct.key}, origin="https://evil.example"
        )
    finally:
        await anext(server, None)
        await live.services.close()
