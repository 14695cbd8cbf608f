"""How calls end and what they cost: credit running out, peer gone, the 120 s minimum with
an injected clock, and the outgoing track's pacing and barge-in clearing."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pytest

from realtime2.accounts.metering import MeterPolicy, SessionMeter
from realtime2.calls import open as call_open
from realtime2.realtime.runner import SessionRunner
from realtime2.transports.webrtc.audio import FRAME_SAMPLES, RATE, SpeakerTrack
from realtime2.transports.webrtc.call import WebRtcCall
from tests.support.accounts import new_account
from tests.support.clock import FakeClock
from tests.support.fakes import fake_engines
from tests.support.peer import TestPeer
from tests.support.server import LiveServer


async def start_call(live: LiveServer, key: str, peer: TestPeer) -> WebRtcCall:
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await http.post(
            "/api/realtime2/session",
            json={"model": "realtime-mini", "voice": "sage", "sdp": await peer.offer()},
            headers={"x-api-key": key},
        )
    assert response.status_code == 200, response.text
    await peer.accept(response.text)
    await peer.wait_connected()
    call = live.calls.get(response.headers["x-openai-call-id"])
    assert call is not None
    return call


async def test_running_out_of_credit_ends_the_call(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = MeterPolicy(
        window_seconds=1, minimum_start_seconds=1, minimum_billed_seconds=1, renew_every_seconds=0.2
    )
    monkeypatch.setattr(call_open, "CALL_METER_POLICY", policy)
    acct = await new_account(live.services, credits=8)  # two seconds at 4/s
    peer = TestPeer()
    call = await start_call(live, acct.key, peer)
    error = await peer.wait_for("error", within=6)
    assert error["error"]["code"] == "insufficient_credits"
    async with asyncio.timeout(5):
        await call.ended.wait()
    assert call.end_reason == "insufficient_credits"
    balance = await live.services.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (0, 0)
    assert live.app.state.session_slots.active == 0
    await peer.close()


async def test_peer_hanging_up_ends_and_settles_the_call(live: LiveServer) -> None:
    acct = await new_account(live.services, credits=10_000)
    peer = TestPeer()
    call = await start_call(live, acct.key, peer)
    await peer.wait_for("session.created")
    await peer.close()
    async with asyncio.timeout(10):
        await call.ended.wait()
    assert call.end_reason == "peer_gone"
    assert call.runner.closed.is_set() or call.runner.session.closed
    assert not [t for t in call._tasks if not t.done()]
    balance = await live.services.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (10_000 - 480, 0)  # the 120 s minimum
    assert live.app.state.session_slots.active == 0


async def test_charge_bills_the_minimum_once_then_only_new_seconds(live: LiveServer) -> None:
    svc = live.services
    acct = await new_account(svc, credits=10_000)
    clock = FakeClock()
    meter = SessionMeter(
        svc.ledger,
        user_id=acct.user_id,
        model="realtime-mini",
        rate=4,
        reference="rtc_clocktest",
        policy=MeterPolicy(minimum_billed_seconds=120),
        clock=clock,
    )
    runner = SessionRunner(fake_engines(), audio_out="media_track")
    call = WebRtcCall(
        call_id="rtc_clocktest",
        user_id=acct.user_id,
        tier="realtime-mini",
        runner=runner,
        meter=meter,
        ledger=svc.ledger,
        hosts=["127.0.0.1"],
    )
    assert (await call.charge()).total == 0  # not connected yet: nothing to charge
    await meter.start()
    clock.advance(30)
    first = await call.charge()
    assert (first.charged, first.charged_seconds, first.total) == (480, 120, 480)
    assert (await call.charge()).charged == 0
    clock.advance(100)  # 130 s in
    assert await meter.renew()  # what the call's keep-alive does every 10 s
    later = await call.charge()
    assert (later.charged, later.total) == (40, 520)
    now = await svc.ledger.balance(acct.user_id)
    assert (now.posted, later.balance) == (10_000 - 520, now.available)  # available = posted - held
    assert (await call.charge()).charged == 0
    clock.advance(5)
    await call.discard()
    settlement = await meter.settle()
    assert settlement is not None and settlement.charged == 20
    assert (await call.charge()).charged == 0
    balance = await svc.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (10_000 - 540, 0)


async def test_speaker_track_paces_frames_and_clears_one_response() -> None:
    track = SpeakerTrack()
    tone = (np.full(RATE // 10, 8000, dtype="<i2")).tobytes()  # 100 ms at 48 kHz
    track.play("resp_a", tone, RATE)
    track.play("resp_b", tone, 24000)  # resampled to 48 kHz: 200 ms
    assert track.queued_seconds > 0.25
    track.clear("resp_a")
    started = time.monotonic()
    frames = [await track.recv() for _ in range(15)]
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed <= 0.45  # 14 frame intervals of 20 ms, paced in real time
    assert all(f.samples == FRAME_SAMPLES and f.sample_rate == RATE for f in frames)
    loud = [np.abs(f.to_ndarray()).max() > 1000 for f in frames]
    assert 9 <= sum(loud) <= 11 and not any(loud[11:])  # only resp_b's 200 ms, then silence
    track.play("resp_c", tone, RATE)
    track.clear()
    assert track.queued_seconds == 0
    track.stop()
