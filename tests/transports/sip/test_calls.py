"""Phone calls end to end on fake engines: a test peer (tests.support.sip) places SIP
calls on loopback; the webhook verifies with the openai SDK; accept, reject, hangup,
CANCEL, BYE, DTMF, the no-RTP timeout, refusals and billing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI, OpenAI
from websockets.asyncio.client import connect

from realtime2.audio.pcm import float_to_pcm16
from realtime2.state import Services
from realtime2.transports.sip.call import SipCall
from tests.support.accounts import Account, new_account, settled
from tests.support.fakes import FakeLLM, fake_engines, silence, tone
from tests.support.server import build_services
from tests.support.sip import WAIT, add_endpoint, phone, sip_server, webhook_receiver


async def services(tmp_path: Path) -> Services:
    return await build_services(tmp_path, fake_engines())


def api(url: str, account: Account) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {account.key}"}, timeout=WAIT
    )


async def incoming_call_id(hooks: object, secret: str) -> str:
    headers, body = await hooks.next()  # type: ignore[attr-defined]
    event = OpenAI(api_key="unused", webhook_secret=secret).webhooks.unwrap(body, headers)
    assert event.type == "realtime.call.incoming"
    names = [h.name for h in event.data.sip_headers]
    assert "Call-ID" in names and "From" in names
    return event.data.call_id


async def test_answered_call_speaks_hears_keys_and_is_billed(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with webhook_receiver() as hooks, sip_server(svc) as (live, sip):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller, api(live.url, account) as client:
            caller.invite(endpoint.uri_user)
            assert (await caller.response()).status == 100
            assert (await caller.response()).status == 180
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            accepted = await client.post(
                f"/v1/realtime/calls/{call_id}/accept",
                json={"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."},
            )
            assert accepted.status_code == 200, accepted.text
            ok = await caller.response(200)
            assert b"m=audio" in ok.body and b"PCMU/8000" in ok.body
            caller.ack()
            call = live.calls.get(call_id)
            assert call is not None
            events = call.subscribe()
            speech = float_to_pcm16(np.concatenate([tone(800, 8000), silence(1200, 8000)]))
            await caller.speak(speech)
            caller.press(5)
            caller.press(11)
            seen: list[str] = []
            keys: list[str] = []
            while "response.done" not in seen or len(keys) < 2:
                event = await asyncio.wait_for(events.get(), WAIT)
                assert event is not None
                seen.append(event["type"])
                if event["type"] == "input_audio_buffer.dtmf_event_received":
                    keys.append(event["event"])
                if "response.done" not in seen:
                    await caller.speak(float_to_pcm16(silence(20, 8000)))
            assert keys == ["5", "#"]
            assert "input_audio_buffer.speech_started" in seen
            # keep the stream going until the reply's audio has come back over RTP
            for _ in range(100):
                if sum(1 for p in caller.received_audio if max(p) != min(p)) >= 5:
                    break
                await caller.speak(float_to_pcm16(silence(20, 8000)))
            loud = [p for p in caller.received_audio if np.abs(np.frombuffer(p, "<i2")).max() > 500]
            assert len(loud) >= 5, "the spoken answer came back over RTP"
            caller.bye()
            assert (await caller.response(200)).status == 200
            await asyncio.wait_for(call.wait_ended(), WAIT)
            assert call.end_reason == "peer_hangup"
        spent = await settled(svc, account.user_id)
        rate = call.meter.rate
        assert spent == call.meter.captured
        assert spent % rate == 0 and 1 <= spent // rate <= 60


async def test_reject_cancel_and_hangup(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with webhook_receiver() as hooks, sip_server(svc) as (live, sip):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with api(live.url, account) as client:
            async with phone(sip) as caller:  # rejected with a chosen status
                caller.invite(endpoint.uri_user)
                call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
                rejected = await client.post(
                    f"/v1/realtime/calls/{call_id}/reject", json={"status_code": 486}
                )
                assert rejected.status_code == 200
                assert (await caller.response(486)).status == 486
                caller.ack()
            async with phone(sip) as caller:  # cancelled while ringing
                caller.invite(endpoint.uri_user)
                call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
                caller.cancel()
                assert (await caller.response(200)).headers.get("cseq") == "1 CANCEL"
                assert (await caller.response(487)).status == 487
                caller.ack()
                call = live.calls.get(call_id)
                assert call is not None
                await asyncio.wait_for(call.wait_ended(), WAIT)
                assert call.end_reason == "cancelled"
                late = await client.post(
                    f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"}
                )
                assert late.status_code == 409
            async with phone(sip) as caller:  # answered, then hung up by the application
                caller.invite(endpoint.uri_user)
                call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
                await client.post(f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"})
                await caller.response(200)
                caller.ack()
                hung = await client.post(f"/v1/realtime/calls/{call_id}/hangup")
                assert hung.status_code == 200
                await caller.request("BYE")
        assert await settled(svc, account.user_id) >= 0


async def test_refusals_and_malformed_input(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with webhook_receiver() as hooks, sip_server(svc) as (_, sip):
        fenced = await add_endpoint(svc, account.user_id, hooks.url, ["10.0.0.0/8"])
        open_ = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller:
            caller.invite("rt2_nobody")
            assert (await caller.response(404)).status == 404
        async with phone(sip) as caller:
            caller.invite(fenced.uri_user)
            assert (await caller.response(403)).status == 403
        async with phone(sip) as caller:
            caller.invite(open_.uri_user, body=caller.offer("9"))  # G.722 only
            assert (await caller.response(488)).status == 488
        async with phone(sip) as caller:
            junks = (b"\x00" * 100, b"INVITE sip:x SIP/2.0\r\n\r\n", b"A" * 9000, b"\r\n\r\n")
            for junk in junks:
                caller.send(junk)
            caller.send(caller._request("OPTIONS", open_.uri_user))
            assert (await caller.response(200)).status == 200  # still answering
        assert sip.dropped >= len(junks)
        assert hooks.received.empty()


async def test_silent_call_times_out(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with (
        webhook_receiver() as hooks,
        sip_server(svc, rtp_timeout_seconds=1.0) as (
            live,
            sip,
        ),
    ):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller, api(live.url, account) as client:
            caller.invite(endpoint.uri_user)
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            await client.post(f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"})
            await caller.response(200)
            caller.ack()
            await caller.request("BYE")
            call = live.calls.get(call_id)
            assert call is not None
            await asyncio.wait_for(call.wait_ended(), WAIT)
            assert call.end_reason == "rtp_timeout"


async def test_flood_from_a_disallowed_address_leaves_a_call_alone(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with (
        webhook_receiver() as hooks,
        sip_server(svc, requests_per_minute=20) as (
            live,
            sip,
        ),
    ):
        fenced = await add_endpoint(svc, account.user_id, hooks.url, ["10.0.0.0/8"])
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller, phone(sip) as attacker, api(live.url, account) as client:
            caller.invite(endpoint.uri_user)
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            await client.post(f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"})
            await caller.response(200)
            caller.ack()
            await caller.speak(float_to_pcm16(silence(200, 8000)))
            heard_before = len(caller.received_audio)
            for n in range(300):
                attacker.call_id = f"flood-{n}"
                attacker.invite(fenced.uri_user)
            await caller.speak(float_to_pcm16(silence(1000, 8000)))  # the call goes on
            refusals = 0
            while not attacker.responses.empty():
                response = attacker.responses.get_nowait()
                assert response.status == 403
                refusals += 1
            assert refusals <= 21  # the source's budget, then its datagrams are dropped
            assert sip.refused == {403: refusals}
            assert len(caller.received_audio) - heard_before >= 30  # ~50 packets a second
            call = live.calls.get(call_id)
            assert call is not None and not call.ended.is_set()
            caller.bye()
            assert (await caller.response(200)).status == 200
            await asyncio.wait_for(call.wait_ended(), WAIT)
        assert hooks.received.empty()  # the flood announced nothing


async def test_credit_running_out_hangs_up_and_bills_what_was_had(tmp_path: Path) -> None:
    svc = await services(tmp_path)
    rate = 4  # realtime-mini
    account = await new_account(svc, credits=8 * rate)
    async with webhook_receiver() as hooks, sip_server(svc) as (live, sip):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller, api(live.url, account) as client:
            caller.invite(endpoint.uri_user)
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            accepted = await client.post(
                f"/v1/realtime/calls/{call_id}/accept",
                json={"type": "realtime", "model": "gpt-realtime-mini"},
            )
            assert accepted.status_code == 200, accepted.text
            await caller.response(200)
            caller.ack()
            call = live.calls.get(call_id)
            assert call is not None
            events = call.subscribe()

            async def keep_talking() -> None:
                while True:
                    await caller.speak(float_to_pcm16(silence(200, 8000)))

            talking = asyncio.create_task(keep_talking())
            try:
                await caller.request("BYE")
                await asyncio.wait_for(call.wait_ended(), WAIT)
            finally:
                talking.cancel()
            assert call.end_reason == "insufficient_credits"
            errors = []
            while not events.empty():
                event = events.get_nowait()
                if event is not None and event["type"] == "error":
                    errors.append(event["error"]["code"])
            assert errors == ["insufficient_credits"]
        assert call.meter.rate == rate
        assert await settled(svc, account.user_id) == 8 * rate
        assert (await svc.ledger.balance(account.user_id)).available == 0


async def test_sdk_call_control_sideband_refer_and_reinvite(tmp_path: Path) -> None:
    """The openai SDK's own calls.accept/refer/hangup, and the sideband WebSocket driving
    the phone call (session.update in, keypad events out)."""
    svc = await services(tmp_path)
    account = await new_account(svc, credits=10_000)
    async with webhook_receiver() as hooks, sip_server(svc) as (live, sip):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        sdk = AsyncOpenAI(base_url=f"{live.url}/v1", api_key=account.key, max_retries=0)
        async with phone(sip) as caller:
            caller.invite(endpoint.uri_user)
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            await sdk.realtime.calls.accept(call_id, type="realtime", model="gpt-realtime-mini")
            await caller.response(200)
            caller.ack()
            url = f"{live.ws_url}?call_id={call_id}"
            async with connect(url, additional_headers={"x-api-key": account.key}) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "type": "session.update",
                            "session": {"type": "realtime", "instructions": "Sideband."},
                        }
                    )
                )
                await caller.speak(float_to_pcm16(silence(100, 8000)))
                caller.press(0)
                await caller.speak(float_to_pcm16(silence(200, 8000)))
                seen: dict[str, dict[str, object]] = {}
                while "input_audio_buffer.dtmf_event_received" not in seen:
                    event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
                    seen.setdefault(event["type"], event)
                updated = seen["session.updated"]["session"]
                assert isinstance(updated, dict) and updated["instructions"] == "Sideband."
                assert seen["input_audio_buffer.dtmf_event_received"]["event"] == "0"
                # a re-INVITE keeps the call and its media
                caller.send(
                    caller._request("INVITE", caller.user, caller.offer(), to=caller.to_header)
                )
                again = await caller.response(200)
                assert again.body == caller.answer
                caller.ack()
                await sdk.realtime.calls.refer(call_id, target_uri="tel:+14155550100")
                refer = await caller.request("REFER")
                assert refer.headers.get("refer-to") == "<tel:+14155550100>"
                await sdk.realtime.calls.hangup(call_id)
                await caller.request("BYE")
                with pytest.raises(websockets.exceptions.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), WAIT)


async def test_barge_in_drops_the_queued_reply(tmp_path: Path) -> None:
    """Speaking over a long reply drops its queued RTP audio at once, even once the reply is
    fully produced (its audio still queued for the line)."""
    long_reply = FakeLLM(script=tuple(f"Sentence number {n}. " for n in range(60)))
    svc = await build_services(tmp_path, fake_engines(llm=long_reply))
    account = await new_account(svc, credits=10_000)
    async with webhook_receiver() as hooks, sip_server(svc) as (live, sip):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        async with phone(sip) as caller, api(live.url, account) as client:
            caller.invite(endpoint.uri_user)
            call_id = await incoming_call_id(hooks, endpoint.webhook_secret)
            await client.post(f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"})
            await caller.response(200)
            caller.ack()
            call = live.calls.get(call_id)
            assert isinstance(call, SipCall)
            events = call.subscribe()
            await caller.speak(
                float_to_pcm16(np.concatenate([tone(600, 8000), silence(900, 8000)]))
            )
            while call.leg.queued_seconds < 1.0:  # the reply is queued well ahead of playback
                await caller.speak(float_to_pcm16(silence(20, 8000)))

            async def talk_over() -> None:
                while True:
                    await caller.speak(float_to_pcm16(tone(200, 8000)))

            talking = asyncio.create_task(talk_over())
            try:
                starts = 0
                while starts < 2:  # the question's, then the one that talks over the reply
                    event = await asyncio.wait_for(events.get(), WAIT)
                    assert event is not None
                    starts += event["type"] == "input_audio_buffer.speech_started"
            finally:
                talking.cancel()
            assert call.leg.queued_seconds < 0.1
            caller.bye()
            await caller.response(200)
