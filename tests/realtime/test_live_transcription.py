"""Live transcription through the runner: hypotheses run as background work, one at a time
per turn, and the client sees words before the turn ends, `completed` their concatenation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime2.engine.interfaces import Priority
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeStreamingSTT, b64, fake_engines, silence, tone
from tests.support.runner import Client

pytestmark = pytest.mark.asyncio

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
TEXT = "the quick brown fox jumps over the lazy dog and runs far away into the woods"


async def _talk(client: Client, seconds: float, *, step_ms: int = 100) -> None:
    for _ in range(int(seconds * 1000) // step_ms):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(step_ms))})
        await asyncio.sleep(0.002)  # let hypotheses run between appends


async def _session(stt: FakeStreamingSTT, turn_detection: Any, **kwargs: Any) -> Client:
    runner = SessionRunner(fake_engines(stt=stt), kind="transcription", **kwargs)
    runner.start()
    client = Client(runner)
    transcription = {"model": "gpt-realtime-whisper", "language": "en", "delay": "minimal"}
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {"transcription": transcription, "turn_detection": turn_detection}
                },
            },
        }
    )
    await client.wait_for("session.updated")
    return client


def _check(client: Client) -> str:
    deltas = [e for e in client.events if e["type"] == DELTA]
    (completed,) = [e for e in client.events if e["type"] == COMPLETED]
    assert "".join(e["delta"] for e in deltas) == completed["transcript"]
    assert "~" not in completed["transcript"]  # no unstable word was ever sent
    return str(completed["transcript"])


@pytest.mark.parametrize(
    "turn_detection",
    [{"type": "server_vad"}, {"type": "semantic_vad", "eagerness": "high"}],
    ids=["server_vad", "semantic_vad"],
)
async def test_words_arrive_before_the_turn_ends(turn_detection: dict[str, Any]) -> None:
    stt = FakeStreamingSTT(TEXT, words_per_s=2.0)
    client = await _session(stt, turn_detection, speculative=False)
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
    await _talk(client, 5.0)
    assert "input_audio_buffer.speech_stopped" not in client.types()
    early = "".join(e["delta"] for e in client.events if e["type"] == DELTA)
    assert len(early.split()) >= 4, early
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(2500))})
    await client.wait_for(COMPLETED)
    assert _check(client).startswith(early)
    background = [c for c in stt.calls if c[1] == Priority.BACKGROUND]
    assert background and all(
        prefix is None or TEXT.startswith(prefix) for *_, prefix in background
    )
    assert stt.max_running == 1  # one hypothesis at a time, never a queue
    await client.runner.close()


async def test_manual_commits_stream_too() -> None:
    stt = FakeStreamingSTT(TEXT, words_per_s=2.0)
    client = await _session(stt, None)
    await _talk(client, 4.0)
    assert any(e["type"] == DELTA for e in client.events)
    await client.send({"type": "input_audio_buffer.commit"})
    await client.wait_for(COMPLETED)
    words = _check(client)
    assert TEXT.startswith(words) and len(words.split()) >= 7  # 2 words a second
    await client.runner.close()


async def test_slow_hypotheses_mean_fewer_of_them_not_a_queue() -> None:
    stt = FakeStreamingSTT(TEXT, words_per_s=2.0, delay=0.5)  # a busy CPU
    client = await _session(stt, {"type": "server_vad"}, speculative=False)
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
    for _ in range(30):  # 3 s of audio at real time
        await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(100))})
        await asyncio.sleep(0.1)
    background = [c for c in stt.calls if c[1] == Priority.BACKGROUND]
    assert 2 <= len(background) <= 7, background  # ~one per 0.5 s answer, not one per append
    assert stt.max_running == 1
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(2500))})
    await client.wait_for(COMPLETED)
    _check(client)
    await client.runner.close()


async def test_drafts_continue_the_sent_words() -> None:
    stt = FakeStreamingSTT(TEXT, words_per_s=2.0)
    client = await _session(stt, {"type": "server_vad"}, speculative=True)
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
    await _talk(client, 4.0)
    await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(2500))})
    await client.wait_for(COMPLETED)
    words = _check(client)
    assert TEXT.startswith(words) and len(words.split()) >= 7
    drafts = [c for c in stt.calls if c[1] != Priority.BACKGROUND]
    # The draft (transcript only: not first-audio work) decoded after the words sent.
    assert drafts and drafts[-1][1] == Priority.INTERACTIVE and drafts[-1][2]
    await client.runner.close()
