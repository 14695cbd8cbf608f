"""Calls from sipp over UDP and over TCP (Debian's sip-tester, a real SIP user agent;
`make test` installs it): its INVITE is announced by a webhook, accepted through the API,
its µ-law RTP is heard and answered over RTP, and the API's hangup ends it with a BYE that
sipp answers."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from realtime2.audio.pcm import float_to_pcm16
from tests.support.accounts import new_account, settled
from tests.support.fakes import fake_engines, silence, tone
from tests.support.server import build_services
from tests.support.sip import (
    WAIT,
    add_endpoint,
    recorder,
    sip_server,
    start_sipp,
    webhook_receiver,
    write_ulaw,
)

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp: make test installs it")


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
async def test_sipp_call_is_answered_over_rtp(tmp_path: Path, transport: str) -> None:
    svc = await build_services(tmp_path, fake_engines())
    account = await new_account(svc, credits=10_000)
    speech = np.concatenate([silence(200, 8000), tone(800, 8000), silence(2000, 8000)])
    audio = write_ulaw(tmp_path / "speech.ulaw", float_to_pcm16(speech))
    async with (
        webhook_receiver() as hooks,
        sip_server(svc) as (live, sip),
        recorder() as rec,
        httpx.AsyncClient(
            base_url=live.url, headers={"Authorization": f"Bearer {account.key}"}, timeout=WAIT
        ) as client,
    ):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        sipp = await start_sipp(tmp_path, sip, endpoint.uri_user, audio, rec.port, transport)
        try:
            _, body = await hooks.next()
            call_id = httpx.Response(200, content=body).json()["data"]["call_id"]
            accepted = await client.post(
                f"/v1/realtime/calls/{call_id}/accept", json={"type": "realtime"}
            )
            assert accepted.status_code == 200, accepted.text
            call = live.calls.get(call_id)
            assert call is not None
            events = call.subscribe()
            while True:
                event = await asyncio.wait_for(events.get(), WAIT)
                assert event is not None, call.end_reason
                if event["type"] == "output_audio_buffer.stopped":
                    break
            while call.leg.queued_seconds > 0:  # noqa: ASYNC110 (the reply still playing)
                await asyncio.sleep(0.05)
            await client.post(f"/v1/realtime/calls/{call_id}/hangup")
            assert await asyncio.wait_for(sipp.wait(), WAIT) == 0, (
                tmp_path / "sipp.log"
            ).read_text()
        finally:
            if sipp.returncode is None:
                sipp.kill()
                await sipp.wait()
        heard = np.frombuffer(rec.pcm(), "<i2")
        assert int(np.sum(np.abs(heard) > 1000)) >= 800  # the reply's tone, >= 0.1 s of it
        assert call.end_reason == "hangup"
        spent = await settled(svc, account.user_id)
        assert spent == call.meter.captured > 0
