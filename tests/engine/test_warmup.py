"""Ready means ready: every local engine answers once before the host says so."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime2.engine import registry
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import AudioChunk, LLMEvent, LLMRequest, Priority
from realtime2.engine.registry import EngineHost
from tests.support.fakes import FakeLLM, FakeSTT, FakeTTS, FakeTurnModel, FakeVAD


class GatedTTS(FakeTTS):
    """Its first synthesis waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        await asyncio.to_thread(self.gate.wait, 10)
        async for chunk in super().synthesize(text, voice=voice, priority=priority, speed=speed):
            yield chunk


class SilentLLM(FakeLLM):
    """Loads fine, then generates nothing: a broken engine found only by its warm-up."""

    async def stream(
        self, request: LLMRequest, *, priority: Any = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        return
        yield  # an async generator that yields nothing


def fake_builders(monkeypatch: pytest.MonkeyPatch, **overrides: object) -> dict[str, object]:
    built: dict[str, object] = {
        "vad": FakeVAD(),
        "stt": FakeSTT(),
        "llm": FakeLLM(),
        "tts": GatedTTS(),
        "turn": FakeTurnModel(),
        **overrides,
    }
    monkeypatch.setattr(
        registry, "BUILDERS", {role: (lambda _s, b=b: b) for role, b in built.items()}
    )
    return built


async def test_not_ready_until_every_engine_has_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    built = fake_builders(monkeypatch)
    host = EngineHost(EngineSettings())
    host.start()
    await asyncio.sleep(0.3)
    status = host.status()
    assert not host.ready and status["ready"] is False
    assert status["roles"]["tts"]["state"] == "loading"  # loaded, warm-up still running
    assert status["roles"]["tts"]["load_seconds"] is not None
    assert status["roles"]["vad"]["state"] == "ready"
    built["tts"].gate.set()  # type: ignore[attr-defined]
    await asyncio.wait_for(host.wait_ready(), 10)
    roles = host.status()["roles"]
    assert {r["state"] for r in roles.values()} == {"ready"}
    assert all(r["warmup_seconds"] is not None for r in roles.values())
    assert roles["tts"]["warmup_seconds"] >= 0.25  # it really waited for the first audio
    # The STT's warm-up transcribed the TTS's speech, resampled to the STT's rate.
    stt_calls = built["stt"].calls  # type: ignore[attr-defined]
    tts = built["tts"]
    assert len(stt_calls) == 1 and stt_calls[0][0] > 0
    assert {voice for _text, voice, _p in tts.calls} == set(tts.capabilities.voices)  # type: ignore[attr-defined]
    assert len(built["llm"].requests) == 1  # type: ignore[attr-defined]


async def test_failed_warmup_is_one_line_naming_engine_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built = fake_builders(monkeypatch, llm=SilentLLM())
    built["tts"].gate.set()  # type: ignore[attr-defined]
    failures: list[str] = []
    host = EngineHost(EngineSettings(), on_failure=failures.append)
    host.start()
    with pytest.raises(Exception, match="llm"):
        await asyncio.wait_for(host.wait_ready(), 10)
    for _ in range(100):
        if failures:
            break
        await asyncio.sleep(0.01)
    role = host.status()["roles"]["llm"]
    assert role["state"] == "failed"
    assert "warm-up failed" in role["error"] and "generated no tokens" in role["error"]
    assert "fix:" in role["error"] and "\n" not in role["error"]
    assert len(failures) == 1 and "llm" in failures[0] and "fix:" in failures[0]
