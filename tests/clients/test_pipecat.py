"""pipecat's OpenAI Realtime services in a real pipecat pipeline against realtime2.

`pipecat.tests.utils.run_test` runs the service as a processor between a source and a
sink (no transport), so the frames it emits are what a voice bot would play or forward.
pipecat raises on server events it does not know, so a clean run also shows that the
server sends nothing outside pipecat's model of the protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.support.accounts import new_account
from tests.support.fakes import pcm16, silence, tone
from tests.support.server import LiveServer

frames = pytest.importorskip("pipecat.frames.frames")
pc_utils = pytest.importorskip("pipecat.tests.utils")
pc_context = pytest.importorskip("pipecat.processors.aggregators.llm_context")
pc_realtime = pytest.importorskip("pipecat.services.openai.realtime.llm")
pc_stt = pytest.importorskip("pipecat.services.openai.stt")


@pytest.fixture(autouse=True)
def pipecat_errors() -> Iterator[list[str]]:
    """pipecat logs (loguru) what it cannot handle; any ERROR fails the test."""
    from loguru import logger

    logged: list[str] = []
    handler = logger.add(lambda message: logged.append(str(message)), level="ERROR")
    yield logged
    logger.remove(handler)
    assert not logged, logged


def ws_base(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/v1/realtime"


def errors_in(*streams: Any) -> list[Any]:
    return [f for stream in streams for f in stream if isinstance(f, frames.ErrorFrame)]


async def test_pipecat_realtime_llm_replies_with_audio(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    service = pc_realtime.OpenAIRealtimeLLMService(
        api_key=acct.key,
        base_url=ws_base(fake_server),
        settings=pc_realtime.OpenAIRealtimeLLMService.Settings(model="gpt-realtime"),
    )
    context = pc_context.LLMContext(messages=[{"role": "user", "content": "Say hello."}])
    down, up = await pc_utils.run_test(
        service,
        frames_to_send=[
            pc_utils.SleepFrame(0.5),
            frames.LLMContextFrame(context),
            pc_utils.SleepFrame(2.0),
        ],
        start_timeout=5.0,
    )
    assert not errors_in(down, up), errors_in(down, up)
    audio = [f for f in down if isinstance(f, frames.TTSAudioRawFrame)]
    assert audio and sum(len(f.audio) for f in audio) > 2000, [type(f).__name__ for f in down]
    text = "".join(f.text for f in down if isinstance(f, frames.TTSTextFrame))
    assert "Hi there" in text, text


async def test_pipecat_realtime_stt_transcribes(fake_server: LiveServer) -> None:
    acct = await new_account(fake_server.services, credits=10_000)
    service = pc_stt.OpenAIRealtimeSTTService(
        api_key=acct.key,
        base_url=ws_base(fake_server),
        settings=pc_stt.OpenAIRealtimeSTTService.Settings(model="gpt-realtime-whisper"),
        turn_detection={"type": "server_vad", "silence_duration_ms": 300},
    )
    rate = 16000  # pipecat's default input rate; the service resamples for the server
    speech = np.concatenate([tone(700, rate), silence(700, rate)])
    chunk = rate // 50
    audio_frames: list[Any] = [pc_utils.SleepFrame(0.5)]
    for start in range(0, len(speech), chunk):
        audio_frames.append(
            frames.InputAudioRawFrame(
                audio=pcm16(speech[start : start + chunk]), sample_rate=rate, num_channels=1
            )
        )
    down, up = await pc_utils.run_test(
        service, frames_to_send=[*audio_frames, pc_utils.SleepFrame(2.0)], start_timeout=5.0
    )
    assert not errors_in(down, up), errors_in(down, up)
    transcripts = [f.text for f in down if isinstance(f, frames.TranscriptionFrame)]
    assert transcripts == ["hello there."], [type(f).__name__ for f in down]
