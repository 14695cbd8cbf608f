"""A phone call through the real embedded engines: sipp (a real SIP UA) asks a spoken
question in G.711 µ-law, the answer comes back over RTP, and whisper understands it
(the words of the reply transcript are heard). Prints speech_stopped → first reply sound
at the caller (mouth-to-ear on loopback, less the caller's own jitter buffer)."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from realtime2.audio.resample import resample
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_engines
from tests.support.accounts import new_account, settled
from tests.support.server import build_services
from tests.support.sip import (
    add_endpoint,
    recorder,
    sip_server,
    start_sipp,
    webhook_receiver,
    write_ulaw,
)
from tests.support.speech import speech_pcm16

pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp: make test installs it"),
]
LONG = 120.0  # real models on a busy 2-core machine


@pytest.fixture(scope="module")
def engines() -> Engines:
    return build_engines(EngineSettings(_env_file=None))


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}


async def test_spoken_question_over_sip_gets_a_spoken_answer(
    tmp_path: Path, engines: Engines
) -> None:
    svc = await build_services(tmp_path, engines)
    account = await new_account(svc, credits=10_000)
    question = speech_pcm16("What is the capital of France?", sample_rate=8000)
    pcm = bytes(3200) + question + bytes(16000 * 2)  # 0.2 s before, 2 s of silence after
    audio = write_ulaw(tmp_path / "question.ulaw", pcm)
    async with (
        webhook_receiver() as hooks,
        sip_server(svc, rtp_timeout_seconds=LONG) as (live, sip),
        recorder() as rec,
        httpx.AsyncClient(
            base_url=live.url,
            headers={"Authorization": f"Bearer {account.key}"},
            timeout=LONG,
            # The hangup comes seconds after the accept: a connection idle as long as the
            # server's keep-alive (5 s, httpx's default expiry too) may be closed by the
            # server as it is reused (a ReadError in CI). Older ones are not reused.
            limits=httpx.Limits(keepalive_expiry=1.0),
        ) as client,
    ):
        endpoint = await add_endpoint(svc, account.user_id, hooks.url)
        sipp = await start_sipp(tmp_path, sip, endpoint.uri_user, audio, rec.port)
        try:
            _, body = await hooks.next()
            call_id = httpx.Response(200, content=body).json()["data"]["call_id"]
            accepted = await client.post(
                f"/v1/realtime/calls/{call_id}/accept",
                json={
                    "type": "realtime",
                    "model": "gpt-realtime-mini",
                    "instructions": "Answer in one short sentence.",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            )
            assert accepted.status_code == 200, accepted.text
            call = live.calls.get(call_id)
            assert call is not None
            events = call.subscribe()
            stopped_at = 0.0
            transcript = ""
            while True:
                event = await asyncio.wait_for(events.get(), LONG)
                assert event is not None, call.end_reason
                kind = event["type"]
                if kind == "input_audio_buffer.speech_stopped" and not stopped_at:
                    stopped_at = time.monotonic()
                elif kind == "conversation.item.input_audio_transcription.completed":
                    transcript = event["transcript"]
                elif kind == "response.done":
                    done = event
                elif kind == "output_audio_buffer.stopped":
                    break
            async with asyncio.timeout(LONG):  # the reply still playing out
                while call.leg.queued_seconds > 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)  # the last packets in flight on loopback
            await client.post(f"/v1/realtime/calls/{call_id}/hangup")
            assert await asyncio.wait_for(sipp.wait(), LONG) == 0
        finally:
            if sipp.returncode is None:
                sipp.kill()
                await sipp.wait()
        assert "capital" in transcript.lower(), transcript
        reply = " ".join(
            part.get("transcript") or ""
            for item in done["response"]["output"]
            for part in item.get("content", [])
        )
        heard = np.frombuffer(rec.pcm(), "<i2").astype(np.float32) / 32768
        voiced = np.flatnonzero(np.abs(heard) > 0.01)
        assert voiced.size, "no answer heard over RTP"
        heard = heard[max(0, voiced[0] - 800) : voiced[-1] + 800]
        stt_rate = engines.stt.capabilities.sample_rate
        back = await engines.stt.transcribe(resample(heard, 8000, stt_rate), language="en")
        shared = words(back.text) & words(reply)
        assert shared, (back.text, reply)
        first = rec.first_sound_after(stopped_at)
        assert first is not None
        spent = await settled(svc, account.user_id)
        assert spent == call.meter.captured > 0
        print(
            f"\nspeech_stopped -> first reply sound at the caller {first - stopped_at:.2f} s; "
            f"heard {len(heard) / 8000:.1f} s: {back.text!r}; reply {reply!r}"
        )
