"""Stage timings of spoken turns: which work answered the turn and when each stage came."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime2.engine.interfaces import (
    AudioChunk,
    FloatAudio,
    LLMEvent,
    LLMRequest,
    Priority,
    Transcript,
)
from realtime2.engine.scheduler import ModelWorker
from realtime2.observability import metrics
from realtime2.realtime.runner import SessionRunner
from realtime2.realtime.stages import StageTracker, TurnStages, WorkClock
from tests.support.fakes import FakeLLM, FakeSTT, FakeTTS, b64, fake_engines, silence, tone


class WorkerSTT(FakeSTT):
    """Transcribes on a real `ModelWorker` named "stt", as the embedded backends do."""

    def __init__(self) -> None:
        super().__init__()
        self.worker = ModelWorker("stt")

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        await self.worker.run(lambda: time.sleep(0.01), priority)
        return await super().transcribe(audio, language=language, priority=priority)


class WorkerLLM(FakeLLM):
    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        await WORKERS["llm"].run(lambda: time.sleep(0.01), Priority.FIRST_AUDIO)
        async for event in super().stream(request, priority=priority):
            yield event


class WorkerTTS(FakeTTS):
    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        await WORKERS["tts"].run(lambda: time.sleep(0.01), priority)
        async for chunk in super().synthesize(text, voice=voice, priority=priority, speed=speed):
            yield chunk


WORKERS = {"llm": ModelWorker("llm"), "tts": ModelWorker("tts")}


def test_a_clock_keeps_the_first_of_each_model_and_the_waits_before_first_audio() -> None:
    clock = WorkClock(started=10.0)
    clock.observe("stt", 0, 10.0, 10.1, 10.4)  # waited 0.1 s for a core
    clock.observe("llm", 0, 10.4, 10.4, 10.5)
    clock.observe("tts-first", 0, 10.5, 10.6, 10.8)
    clock.first_tts = 10.8  # the draft's first audio chunk (TimedDraftOut)
    clock.observe("tts", 1, 10.8, 10.9, 11.5)  # after first audio: not counted
    turn = TurnStages(speech_stopped=10.6, first_audio=10.85, path="draft", work=clock)
    stages = turn.breakdown()
    assert stages["pause_detected"] == -0.6
    assert stages["first_job_started"] == -0.5
    assert stages["stt_done"] == -0.2
    assert stages["first_llm_text"] == -0.1
    assert stages["first_sentence"] == -0.1
    assert stages["first_tts_chunk"] == 0.2
    assert stages["first_audio_sent"] == 0.25
    assert stages["gate_wait_s"] == 0.2
    assert stages["busy_s"] == {"stt": 0.3, "llm": 0.1, "tts": 0.2}


def test_the_tracker_pairs_a_turn_with_the_work_it_adopted_not_a_discarded_draft() -> None:
    seen: list[TurnStages] = []
    tracker = StageTracker(on_turn=seen.append)
    tracker.events([{"type": "input_audio_buffer.speech_started"}])
    stale = tracker.clock("draft_1")
    tracker.drop("draft_1")  # the user kept talking
    kept = tracker.clock("draft_2")
    tracker.events([{"type": "input_audio_buffer.speech_stopped"}])
    tracker.adopted("draft_1")  # gone: nothing to claim
    tracker.adopted("draft_2")
    tracker.events(
        [{"type": "response.output_audio.delta"}, {"type": "response.output_audio.delta"}]
    )
    assert len(seen) == 1 and seen[0].work is kept and seen[0].work is not stale
    assert seen[0].path == "draft"
    # A reply nobody spoke for (response.create) is no turn.
    tracker.responding("resp_x")
    tracker.events([{"type": "response.output_audio.delta"}])
    assert list(tracker.turns) == seen
    # The turn's clock stops keeping jobs once its first audio was sent.
    kept.observe("llm", 0, 1.0, 1.0, 2.0)
    assert kept.jobs == []


async def test_a_spoken_turn_records_its_stages_and_feeds_the_metrics() -> None:
    before = _sample("realtime2_turn_stage_seconds_count", stage="stt_done", path="draft")
    stt = WorkerSTT()
    runner = SessionRunner(fake_engines(stt=stt, llm=WorkerLLM(), tts=WorkerTTS()))
    runner.start()
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for event in runner.events():
            events.append(event)

    reader = asyncio.create_task(read())
    for chunk in (silence(100), tone(500), silence(300)):
        await runner.feed_text(
            json.dumps({"type": "input_audio_buffer.append", "audio": b64(chunk)})
        )
    await asyncio.sleep(0.2)  # the draft works during the pause
    await runner.feed_text(
        json.dumps({"type": "input_audio_buffer.append", "audio": b64(silence(400))})
    )
    for _ in range(200):
        if any(e["type"] == "response.done" for e in events):
            break
        await asyncio.sleep(0.01)
    (turn,) = runner.turn_stages
    stages = turn.breakdown()
    assert stages["path"] == "draft"
    # Drafted in the pause: transcript, first text and first chunk before speech_stopped.
    assert stages["pause_detected"] < stages["first_job_started"] <= stages["stt_done"]
    assert stages["stt_done"] < stages["first_llm_text"] <= stages["first_tts_chunk"] < 0
    assert stages["first_audio_sent"] >= 0
    assert set(stages["busy_s"]) == {"stt", "llm", "tts"}
    after = _sample("realtime2_turn_stage_seconds_count", stage="stt_done", path="draft")
    assert after == before + 1
    await runner.close()
    reader.cancel()
    stt.worker.close()


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.models
async def test_real_engines_answer_a_recorded_human_question_with_its_stages() -> None:
    from realtime2.engine.config import EngineSettings
    from realtime2.engine.registry import build_engines
    from tests.support.human_speech import human_turns

    engines = await asyncio.to_thread(build_engines, EngineSettings(_env_file=None))  # type: ignore[call-arg]
    (question, _) = human_turns(24000, kinds=("question",))
    runner = SessionRunner(engines, model="gpt-realtime")
    runner.start()
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for event in runner.events():
            events.append(event)
            if event["type"] == "response.done":
                return

    reader = asyncio.create_task(read())
    await runner.feed_text(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "instructions": "Answer in one short sentence.",
                    "audio": {"input": {"transcription": {"model": "whisper-1"}}},
                },
            }
        )
    )
    stream = b"\0" * 9600 + question.pcm + b"\0" * 24000 * 2
    for start in range(0, len(stream), 4800):  # 100 ms appends, faster than real time
        chunk = base64.b64encode(stream[start : start + 4800]).decode()
        await runner.feed_text(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
    await asyncio.wait_for(reader, 120)
    await runner.close()
    transcript = next(
        e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"
    )["transcript"]
    assert "folder" in transcript.lower()  # a real voice, 8 kHz telephone audio
    (turn,) = runner.turn_stages
    stages = turn.breakdown()
    assert stages["stt_done"] is not None and stages["first_llm_text"] is not None
    assert stages["stt_done"] <= stages["first_llm_text"] <= stages["first_audio_sent"]
    assert stages["busy_s"]["stt"] > 0 and stages["busy_s"]["llm"] > 0
