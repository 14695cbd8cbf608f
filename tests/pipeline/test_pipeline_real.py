"""The seed's two curl examples against a real server process on the embedded models:
text in, and spoken audio (.webm/Opus) in; the MP3 reply, transcribed back, says what
`assistantText` says, and the credits charged equal the measured seconds."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import av
import httpx
import numpy as np
import pytest

from realtime2.audio.decode import decode_audio
from realtime2.engine.interfaces import STT
from tests.support.server import RealServer
from tests.support.speech import speech
from tests.support.wer import wer as word_error_rate

pytestmark = pytest.mark.models


def webm_opus(samples: np.ndarray, rate: int) -> bytes:
    """Encode speech the way a browser's MediaRecorder does: WebM container, Opus codec."""
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"  # type: ignore[attr-defined]
        from realtime2.audio.resample import resample

        pcm = (resample(samples, rate, 48000) * 32767).astype(np.int16)
        for start in range(0, pcm.size, 960):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 960], "s16", "mono")
            frame.sample_rate = 48000
            for packet in stream.encode(frame):  # type: ignore[attr-defined]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            container.mux(packet)
    return out.getvalue()


async def transcribe_mp3(stt: STT, mp3: bytes) -> str:
    audio, _ = decode_audio(mp3, stt.capabilities.sample_rate)
    return (await stt.transcribe(audio)).text


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower())


async def test_text_example(real_server: RealServer, local_stt: STT) -> None:
    proc, key = real_server, real_server.key
    http = httpx.AsyncClient(timeout=120)
    before = (await http.get(proc.url + "/api/realtime2/me", headers={"x-api-key": key})).json()
    response = await http.post(
        proc.url + "/api/realtime2/pipeline",
        headers={"Authorization": f"Bearer {key}"},
        data={
            "model": "starter-voice",
            "voice": "marin",
            "text": "Tell me one useful idea in 20 seconds.",
            "instructions": "You are concise and natural.",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["assistantText"].strip()
    heard = await transcribe_mp3(local_stt, base64.b64decode(body["audioBase64"]))
    wer = word_error_rate(normalise(body["assistantText"]), normalise(heard))
    assert wer <= 0.25, (body["assistantText"], heard, wer)
    after = (await http.get(proc.url + "/api/realtime2/me", headers={"x-api-key": key})).json()
    await http.aclose()
    assert before["balance"] - after["balance"] == body["usage"]["credits"]
    assert body["usage"]["credits"] == body["usage"]["seconds"]
    out_seconds = body["usage"]["outputSeconds"]
    assert body["usage"]["seconds"] == int(np.ceil(out_seconds))


async def test_audio_example_webm(real_server: RealServer, local_stt: STT, tmp_path: Path) -> None:
    proc, key = real_server, real_server.key
    question = speech("What is the capital of France?", 24000)
    upload = webm_opus(question, 24000)
    async with httpx.AsyncClient(timeout=120) as http:
        response = await http.post(
            proc.url + "/api/realtime2/pipeline",
            headers={"x-api-key": key},
            data={
                "model": "starter-voice",
                "voice": "cedar",
                "durationSeconds": "8",
                "instructions": "Answer briefly.",
            },
            files={"audio": ("voice.webm", upload, "audio/webm")},
            timeout=120,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "capital of france" in normalise(body["transcript"])
    heard = await transcribe_mp3(local_stt, base64.b64decode(body["audioBase64"]))
    assert heard.strip()
    usage = body["usage"]
    assert usage["inputSeconds"] == pytest.approx(question.size / 24000, abs=0.1)
    expected = int(np.ceil(usage["inputSeconds"] + usage["outputSeconds"] - 1e-9))
    assert usage["seconds"] == expected and usage["credits"] == expected
