"""Call control from any replica: two apps on one database and one Redis (two replicas in
one process, each named on the call bus). A WebRTC call runs on A with a real test peer;
/charge, /hangup and the sideband reach it through B. Without Redis, B answers 409 as
before. The process-level test is tests/security/test_replicas.py."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from realtime2.app import create_app, drain_app
from realtime2.calls.bus import CallBus
from realtime2.db.migrate import upgrade
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.support.accounts import Account, make_settings, new_account
from tests.support.call_bus import REDIS_URL, redis_answers, vanish
from tests.support.fakes import fake_engines
from tests.support.peer import TestPeer
from tests.support.server import build_services, refused, running
from tests.support.sip import Phone, Webhooks, add_endpoint, phone, sip_server, webhook_receiver
from tests.support.waiting import until


@dataclass
class Replica:
    app: FastAPI
    url: str

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/realtime"

    @property
    def bus(self) -> CallBus:
        bus: CallBus = self.app.state.call_bus
        return bus


async def _replicas(tmp_path: Path, with_redis: bool) -> AsyncIterator[list[Replica]]:
    """Replicas A and B on one database (and one Redis)."""
    if with_redis and not redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    settings = make_settings(tmp_path, redis_url=REDIS_URL if with_redis else "")
    run = secrets.token_hex(4)
    async with AsyncExitStack() as stack:
        replicas = []
        for name in ("a", "b"):
            svc = Services.build(settings)
            stack.push_async_callback(svc.close)
            await upgrade(svc.db)
            svc.engines = EngineHost.with_engines(fake_engines())
            app = create_app(settings, svc)
            if name == "b":  # A keeps the process's name, which its call records carry
                app.state.replica = f"test-b-{run}"
            server = await stack.enter_async_context(running(app))
            replicas.append(Replica(app, f"http://127.0.0.1:{server.config.port}"))
        if with_redis:
            for r in replicas:
                async with asyncio.timeout(5):
                    await r.bus.subscribed.wait()
                r.bus.ping_seconds, r.bus.lost_seconds = 0.2, 1.0  # relays opened from now
        yield replicas


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    async for replicas in _replicas(tmp_path, with_redis=True):
        yield replicas


@pytest.fixture
async def two_without_redis(tmp_path: Path) -> AsyncIterator[list[Replica]]:
    async for replicas in _replicas(tmp_path, with_redis=False):
        yield replicas


async def _call_on(replica: Replica, acct: Account, peer: TestPeer) -> str:
    async with httpx.AsyncClient(base_url=replica.url) as http:
        response = await http.post(
            "/api/realtime2/session",
            json={"model": "realtime-mini", "voice": "sage", "sdp": await peer.offer()},
            headers={"x-api-key": acct.key},
        )
    assert response.status_code == 200, response.text
    await peer.accept(response.text)
    await peer.wait_connected()
    await peer.wait_for("session.created")
    return response.headers["x-openai-call-id"]


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while (event := json.loads(await ws.recv()))["type"] != kind:
            pass
    return event


async def test_charge_hangup_and_sideband_through_another_replica(two: list[Replica]) -> None:
    a, b = two
    acct = await new_account(a.app.state.services, credits=100_000)
    auth = {"x-api-key": acct.key}
    peer = TestPeer()
    call_id = await _call_on(a, acct, peer)
    call = a.app.state.calls.get(call_id)
    charge = {"model": "realtime-mini", "callId": call_id}
    async with httpx.AsyncClient(base_url=b.url, headers=auth) as on_b:
        # /charge through B is run by A: the 120 s minimum once, then nothing twice.
        first = await on_b.post("/api/realtime2/charge", json=charge)
        assert first.status_code == 200, first.text
        assert (first.json()["chargedCredits"], first.json()["totalChargedCredits"]) == (480, 480)
        again = (await on_b.post("/api/realtime2/charge", json=charge)).json()
        assert (again["chargedCredits"], again["totalChargedCredits"]) == (0, 480)
        wrong = await on_b.post("/api/realtime2/charge", json={**charge, "model": "realtime-pro"})
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "model_mismatch"

        # Another user's call is unknown through B too.
        other = await new_account(a.app.state.services, credits=1000)
        foreign = await on_b.post(
            "/api/realtime2/charge", json=charge, headers={"x-api-key": other.key}
        )
        assert foreign.status_code == 404

        # The sideband through B: client events reach the call on A, its events come back,
        # and a browser's client secret is refused as on the owner.
        async with connect(f"{b.ws_url}?call_id={call_id}", additional_headers=auth) as side:
            update = {"type": "session.update", "session": {"type": "realtime"}}
            update["session"]["instructions"] = "Be brief."  # type: ignore[index]
            seen = len(peer.events)
            await side.send(json.dumps(update))
            updated = await _next(side, "session.updated")
            assert updated["session"]["instructions"] == "Be brief."
            # The browser's data channel sees the update too.
            assert (await peer.wait_for("session.updated", after=seen))["session"][
                "instructions"
            ] == "Be brief."
            # Closing it on B lets go of the call on A; the call goes on.
        async with asyncio.timeout(5):
            await until(lambda: not call._sidebands and not a.bus._relays)
        assert not call.ended.is_set()

        # /hangup through B ends the call on A; a sideband open through B is closed.
        side = await connect(f"{b.ws_url}?call_id={call_id}", additional_headers=auth)
        hangup = await on_b.post(f"/v1/realtime/calls/{call_id}/hangup")
        assert hangup.status_code == 200
        assert call.ended.is_set() and call.end_reason == "hangup"
        async with asyncio.timeout(5):
            await side.wait_closed()
        assert side.close_code == 1000
        ended = (await on_b.post("/api/realtime2/charge", json=charge)).json()
        assert (ended["chargedCredits"], ended["totalChargedCredits"]) == (0, 480)
    await peer.close()
    assert not b.bus._relays and not a.bus._relays and not b.bus._waiting


async def test_an_owner_that_dies_is_reported(two: list[Replica]) -> None:
    a, b = two
    acct = await new_account(a.app.state.services, credits=100_000)
    auth = {"x-api-key": acct.key}
    peer = TestPeer()
    call_id = await _call_on(a, acct, peer)
    side = await connect(f"{b.ws_url}?call_id={call_id}", additional_headers=auth)
    await vanish(a.bus)  # as a SIGKILLed replica: nothing more from A on the bus
    error = await _next(side, "error")
    assert error["error"]["code"] == "call_owner_lost"
    async with asyncio.timeout(5):
        await side.wait_closed()
    async with httpx.AsyncClient(base_url=b.url, headers=auth) as on_b:
        charge = {"model": "realtime-mini", "callId": call_id}
        gone = await on_b.post("/api/realtime2/charge", json=charge)
        assert gone.status_code == 504
        assert gone.json()["error"]["code"] == "call_owner_unavailable"
        hangup = await on_b.post(f"/v1/realtime/calls/{call_id}/hangup")
        assert hangup.status_code == 504
    status, body = await refused(f"{b.ws_url}?call_id={call_id}", additional_headers=auth)
    assert (status, body["error"]["code"]) == (504, "call_owner_unavailable")
    await peer.close()


async def test_a_phone_call_is_rejected_transferred_and_hung_up_through_another_replica(
    tmp_path: Path,
) -> None:
    if not redis_answers():
        pytest.skip("no Redis answers on 127.0.0.1:6379")
    svc_a = await build_services(tmp_path, fake_engines(), redis_url=REDIS_URL)
    svc_b = Services.build(svc_a.settings)
    svc_b.engines = EngineHost.with_engines(fake_engines())  # not the real models
    app_b = create_app(svc_b.settings, svc_b)
    app_b.state.replica = f"test-b-{secrets.token_hex(4)}"
    account = await new_account(svc_a, credits=10_000)
    try:
        async with (
            webhook_receiver() as hooks,
            sip_server(svc_a) as (live_a, sip),
            running(app_b) as server_b,
        ):
            endpoint = await add_endpoint(svc_a, account.user_id, hooks.url)
            b = Replica(app_b, f"http://127.0.0.1:{server_b.config.port}")
            async with asyncio.timeout(5):
                await b.bus.subscribed.wait()
            on_b = httpx.AsyncClient(base_url=b.url, headers={"x-api-key": account.key})
            on_a = httpx.AsyncClient(base_url=live_a.url, headers={"x-api-key": account.key})
            async with on_a, on_b:
                # A ringing call rejected through B: the caller hears the status.
                async with phone(sip) as caller:
                    caller.invite(endpoint.uri_user)
                    _headers, body = await hooks.next()
                    ringing = json.loads(body)["data"]["call_id"]
                    rejected = await on_b.post(
                        f"/v1/realtime/calls/{ringing}/reject", json={"status_code": 486}
                    )
                    assert rejected.status_code == 200, rejected.text
                    assert (await caller.response(486)).status == 486
                async with phone(sip) as caller:
                    await _transfer_through(on_a, on_b, hooks, caller, endpoint.uri_user)
    finally:
        await svc_b.close()
        await svc_a.close()


async def test_a_draining_replica_closes_its_relayed_sidebands(two: list[Replica]) -> None:
    a, b = two
    acct = await new_account(a.app.state.services, credits=100_000)
    peer = TestPeer()
    call_id = await _call_on(a, acct, peer)
    url = f"{b.ws_url}?call_id={call_id}"
    async with connect(url, additional_headers={"x-api-key": acct.key}) as side:
        assert await drain_app(b.app) == 0  # B's SIGTERM: its sockets end, nothing is left
        error = await _next(side, "error")
        assert error["error"]["code"] == "server_shutting_down"
        async with asyncio.timeout(5):
            await side.wait_closed()
    call = a.app.state.calls.get(call_id)
    await until(lambda: not call._sidebands and not a.bus._relays)
    assert not call.ended.is_set()  # the call runs on A, which is not draining
    await peer.close()


async def _transfer_through(
    on_a: httpx.AsyncClient, on_b: httpx.AsyncClient, hooks: Webhooks, caller: Phone, user: str
) -> None:
    caller.invite(user)
    _headers, body = await hooks.next()
    call_id = json.loads(body)["data"]["call_id"]
    # /accept admits and meters the session where the INVITE arrived.
    accept = {"type": "realtime", "model": "gpt-realtime-mini"}
    elsewhere = await on_b.post(f"/v1/realtime/calls/{call_id}/accept", json=accept)
    assert elsewhere.status_code == 409
    assert elsewhere.json()["error"]["code"] == "call_on_other_replica"
    accepted = await on_a.post(f"/v1/realtime/calls/{call_id}/accept", json=accept)
    assert accepted.status_code == 200, accepted.text
    await caller.response(200)
    caller.ack()
    # The owner's own checks run there and come back as they are.
    late = await on_b.post(f"/v1/realtime/calls/{call_id}/reject", json={"status_code": 486})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "call_not_ringing")
    target = {"target_uri": "tel:+14155550100"}
    referred = await on_b.post(f"/v1/realtime/calls/{call_id}/refer", json=target)
    assert referred.status_code == 200, referred.text
    refer = await caller.request("REFER")
    assert refer.headers.get("refer-to") == "<tel:+14155550100>"
    hangup = await on_b.post(f"/v1/realtime/calls/{call_id}/hangup")
    assert hangup.status_code == 200
    await caller.request("BYE")


async def test_without_redis_another_replica_answers_409(
    two_without_redis: list[Replica],
) -> None:
    a, b = two_without_redis
    assert a.app.state.call_bus is None and b.app.state.call_bus is None
    acct = await new_account(a.app.state.services, credits=100_000)
    auth = {"x-api-key": acct.key}
    peer = TestPeer()
    call_id = await _call_on(a, acct, peer)
    async with httpx.AsyncClient(base_url=b.url, headers=auth) as on_b:
        charge = {"model": "realtime-mini", "callId": call_id}
        for response in (
            await on_b.post("/api/realtime2/charge", json=charge),
            await on_b.post(f"/v1/realtime/calls/{call_id}/hangup"),
        ):
            assert response.status_code == 409
            assert response.json()["error"]["code"] == "call_on_other_replica"
    status, body = await refused(f"{b.ws_url}?call_id={call_id}", additional_headers=auth)
    assert (status, body["error"]["code"]) == (409, "call_on_other_replica")
    assert not a.app.state.calls.get(call_id).ended.is_set()
    await peer.close()
