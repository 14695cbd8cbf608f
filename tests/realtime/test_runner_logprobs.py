"""The runner asks an STT that declares logprobs for them when the session includes them,
and the completed transcription event carries one per token (issue 23)."""

from __future__ import annotations

import math

from realtime2.engine.interfaces import (
    FloatAudio,
    Priority,
    STTCapabilities,
    TokenLogprob,
    Transcript,
)
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import VAD_RATE, FakeSTT, b64, fake_engines, silence, tone
from tests.support.runner import Client


class ScoringSTT(FakeSTT):
    capabilities = STTCapabilities(
        streaming=False, sample_rate=VAD_RATE, languages=("en",), logprobs=True
    )

    async def transcribe(  # type: ignore[override]
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
        logprobs: bool = False,
    ) -> Transcript:
        scores = (
            TokenLogprob(" hello", -0.2, tuple(b" hello")),
            TokenLogprob(" there.", -0.4, tuple(b" there.")),
        )
        return Transcript(self.text, "en", len(audio) / VAD_RATE, scores if logprobs else None)


async def test_completed_transcription_carries_the_stt_logprobs() -> None:
    runner = SessionRunner(fake_engines(stt=ScoringSTT()))
    runner.start()
    client = Client(runner)
    session = {
        "type": "realtime",
        "include": ["item.input_audio_transcription.logprobs"],
        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
    }
    await client.send({"type": "session.update", "session": session})
    for chunk in (silence(100), tone(500), silence(700)):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    done = await client.wait_for("conversation.item.input_audio_transcription.completed")
    logprobs = done["logprobs"]
    assert [p["token"] for p in logprobs] == [" hello", " there."]
    assert "".join(p["token"] for p in logprobs).strip() == done["transcript"]
    assert all(math.isfinite(p["logprob"]) for p in logprobs)
    assert logprobs[0]["bytes"] == list(b" hello")
    await runner.close()


async def test_an_stt_without_logprobs_says_so_once_by_name() -> None:
    runner = SessionRunner(fake_engines())  # FakeSTT declares no logprobs
    runner.start()
    client = Client(runner)
    session = {
        "type": "realtime",
        "include": ["item.input_audio_transcription.logprobs"],
        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
    }
    await client.send({"type": "session.update", "session": session})
    for _ in range(2):
        for chunk in (silence(100), tone(500), silence(700)):
            await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    done = await client.wait_for("conversation.item.input_audio_transcription.completed", 2)
    assert done["logprobs"] is None and done["transcript"]  # the transcript still comes
    errors = [e for e in client.events if e["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["error"]["param"] == "session.include"
    assert errors[0]["error"]["code"] == "unsupported_parameter"
    await runner.close()
