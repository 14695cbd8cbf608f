"""A spoken WebRTC call through the real embedded engines: an aiortc client streams Piper
speech as its microphone in real time, hears the spoken answer on the audio track, and the
answer is transcribed back with the real STT and compared with the reply transcript."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from realtime2.audio.resample import resample
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_engines
from tests.support.accounts import new_account
from tests.support.peer import TestPeer
from tests.support.server import LiveServer, live_server
from tests.support.speech import speech_pcm16
from tests.support.validate import assert_valid

pytestmark = pytest.mark.models
RATE = 48000


@pytest.fixture(scope="module")
def engines() -> Engines:
    return build_engines(EngineSettings(_env_file=None))


@pytest.fixture
async def real_live(tmp_path: Path, engines: Engines) -> AsyncIterator[LiveServer]:
    async for server in live_server(tmp_path, engines):
        yield server


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2}


async def test_spoken_call_is_answered_in_speech(real_live: LiveServer, engines: Engines) -> None:
    acct = await new_account(real_live.services, credits=10_000)
    peer = TestPeer()
    async with httpx.AsyncClient(base_url=real_live.url, timeout=60) as http:
        posted = time.monotonic()
        response = await http.post(
            "/api/realtime2/session",
            json={
                "model": "realtime-mini",
                "voice": "marin",
                "instructions": "Answer in one short sentence.",
                "sdp": await peer.offer(),
            },
            headers={"Authorization": f"Bearer {acct.key}"},
        )
        assert response.status_code == 200, response.text
        call_id = response.headers["x-openai-call-id"]
        await peer.accept(response.text)
        await peer.wait_connected()
        connect_ms = (time.monotonic() - posted) * 1000
        await peer.wait_for("session.updated")
        peer.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            }
        )
        mark = len(peer.events)
        await peer.wait_for("session.updated", after=mark)

        question = speech_pcm16("What is the capital of France?", sample_rate=RATE)
        peer.say(question, RATE)  # played in real time; silence follows and ends the turn
        await peer.wait_for("input_audio_buffer.speech_started", within=15, after=mark)
        await peer.wait_for("input_audio_buffer.speech_stopped", within=15, after=mark)
        stopped_at = time.monotonic()
        heard_from = len(peer.heard)
        transcript = await peer.wait_for(
            "conversation.item.input_audio_transcription.completed", within=60, after=mark
        )
        assert "capital" in transcript["transcript"].lower()
        done = await peer.wait_for("response.done", within=90, after=mark)
        assert done["response"]["status"] == "completed", done["response"]["status_details"]
        await peer.wait_for("output_audio_buffer.started", after=mark)
        await peer.wait_for("output_audio_buffer.stopped", after=mark)
        for event in peer.events:
            assert_valid(event)
        reply = " ".join(
            part.get("transcript") or ""
            for item in done["response"]["output"]
            for part in item.get("content", [])
        )
        assert reply.strip()

        call = real_live.calls.get(call_id)
        assert call is not None
        async with asyncio.timeout(60):  # let the queued reply finish playing
            while call.speaker.queued_seconds > 0:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        assert peer.first_sound_at is not None
        first_audio_s = peer.first_sound_at - stopped_at

        pcm = np.frombuffer(bytes(peer.heard[heard_from:]), "<i2")
        heard = (pcm / 32768).astype(np.float32)
        voiced = np.flatnonzero(np.abs(heard) > 0.01)
        assert voiced.size, "no audio heard on the track"
        heard = heard[max(0, voiced[0] - RATE // 10) : voiced[-1] + RATE // 10]
        stt_rate = engines.stt.capabilities.sample_rate
        back = await engines.stt.transcribe(resample(heard, RATE, stt_rate), language="en")
        assert back.text.strip(), "the answer heard on the track is not speech"
        shared = words(back.text) & words(reply)
        assert shared, (back.text, reply)

        charge = await http.post(
            "/api/realtime2/charge",
            json={"model": "realtime-mini", "callId": call_id},
            headers={"Authorization": f"Bearer {acct.key}"},
        )
        assert charge.status_code == 200
        assert charge.json()["chargedCredits"] == 480
    await peer.close()
    async with asyncio.timeout(10):
        await call.ended.wait()
    balance = await real_live.services.ledger.balance(acct.user_id)
    assert (balance.posted, balance.held) == (10_000 - 480, 0)
    print(
        f"\nICE+DTLS connected {connect_ms:.0f} ms after POST; speech_stopped -> first reply "
        f"audio heard {first_audio_s:.2f} s; heard {len(heard) / RATE:.1f} s of reply; "
        f"shared words {sorted(shared)}"
    )
