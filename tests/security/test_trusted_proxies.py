"""REALTIME2_TRUSTED_PROXIES: X-Forwarded-For from a trusted balancer gives the client's
address (the login throttle counts per real client); from anyone else it is ignored.
Driven through the app exactly as `realtime2 serve` wraps it (uvicorn's Config)."""

from __future__ import annotations

from pathlib import Path

import httpx
import uvicorn

from realtime2.app import create_app
from realtime2.db.migrate import upgrade
from realtime2.serving import uvicorn_options
from realtime2.state import Services
from tests.support.accounts import make_settings, new_account
from tests.support.pages import post_login


async def _served(svc: Services, peer: str) -> httpx.AsyncClient:
    config = uvicorn.Config(create_app(svc.settings, svc), **uvicorn_options(svc.settings))
    config.load()  # the middleware stack serve() runs, ProxyHeadersMiddleware included
    transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path) -> None:
    svc = Services.build(make_settings(tmp_path, trusted_proxies="10.0.0.0/8"))
    await upgrade(svc.db)
    try:
        acct = await new_account(svc)
        balancer = await _served(svc, "10.1.2.3")
        # Five failures from one client behind the balancer: that client waits...
        guesser = {"X-Forwarded-For": "203.0.113.9"}
        balancer.headers.update(guesser)
        for _ in range(5):
            assert (await post_login(balancer, acct.email, "wrong password!")).status_code == 401
        assert (await post_login(balancer, acct.email)).status_code == 429
        # ...another client behind the same balancer does not (it did when all shared the
        # balancer's address).
        balancer.headers["X-Forwarded-For"] = "198.51.100.7"
        assert (await post_login(balancer, acct.email)).status_code == 303
        # A peer that is not a trusted proxy cannot pick its address with the header.
        direct = await _served(svc, "192.0.2.50")
        direct.headers.update(guesser)
        for _ in range(5):
            assert (await post_login(direct, acct.email, "wrong password!")).status_code == 401
        direct.headers["X-Forwarded-For"] = "198.51.100.8"
        assert (await post_login(direct, acct.email)).status_code == 429
        await balancer.aclose()
        await direct.aclose()
    finally:
        await svc.close()
