"""`tracing` has an effect: OpenTelemetry spans per session and turn, with VAD/STT/LLM/TTS
stage spans, named by the client's `workflow_name`/`group_id`/`metadata`, and no
transcripts (issue 23). `tracing: null` records nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from realtime2.engine.interfaces import FloatAudio, LLMEvent, LLMRequest, Priority, Transcript
from realtime2.engine.scheduler import JOB_OBSERVER
from realtime2.observability import tracing
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeLLM, FakeSTT, b64, fake_engines, silence, tone
from tests.support.runner import Client

SECRET_WORDS = "my secret passphrase"


def _job(model: str) -> None:
    """What a scheduled model job reports (the fakes do not run on the scheduler)."""
    observer = JOB_OBSERVER.get()
    if observer is not None:
        now = time.perf_counter()
        observer(model, 1, now - 0.002, now - 0.001, now)


class ObservedSTT(FakeSTT):
    async def transcribe(self, audio: FloatAudio, **kwargs: Any) -> Transcript:  # type: ignore[override]
        _job("stt")
        return await super().transcribe(audio, **kwargs)


class ObservedLLM(FakeLLM):
    async def stream(  # type: ignore[override]
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        _job("llm")
        async for event in super().stream(request, priority=priority):
            yield event


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    yield exporter
    tracing.configure(None)


async def _turn(tracing_config: Any) -> SessionRunner:
    runner = SessionRunner(
        fake_engines(stt=ObservedSTT(SECRET_WORDS), llm=ObservedLLM()), speculative=False
    )
    runner.start()
    client = Client(runner)
    session = {
        "type": "realtime",
        "tracing": tracing_config,
        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
    }
    await client.send({"type": "session.update", "session": session})
    for chunk in (silence(100), tone(500), silence(700)):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    await client.wait_for("response.done")
    await runner.close()
    return runner


async def test_spans_per_session_and_turn_named_by_the_client(
    spans: InMemorySpanExporter,
) -> None:
    config = {"workflow_name": "support-bot", "group_id": "g-42", "metadata": {"tenant": "acme"}}
    runner = await _turn(config)
    finished = {s.name: s for s in spans.get_finished_spans()}
    session = finished["support-bot"]
    assert session.attributes is not None
    assert session.attributes["realtime.group_id"] == "g-42"
    assert session.attributes["realtime.metadata.tenant"] == "acme"
    assert session.attributes["realtime.session_id"] == runner.session.id
    turn = finished["realtime.turn"]
    assert turn.parent is not None and turn.parent.span_id == session.context.span_id
    for stage in ("vad", "stt", "llm"):
        span = finished[stage]
        assert span.parent is not None and span.parent.span_id == turn.context.span_id
        assert span.start_time is not None and span.end_time is not None
        assert span.end_time >= span.start_time
    assert turn.start_time is not None and turn.end_time is not None
    assert turn.end_time - turn.start_time > 0
    # Timings and names only: no transcript in any span.
    for span in spans.get_finished_spans():
        assert SECRET_WORDS not in str(dict(span.attributes or {}))
        assert SECRET_WORDS not in span.name


async def test_auto_uses_the_default_workflow_name(spans: InMemorySpanExporter) -> None:
    await _turn("auto")
    names = {s.name for s in spans.get_finished_spans()}
    assert tracing.DEFAULT_WORKFLOW in names and "realtime.turn" in names


async def test_null_tracing_records_nothing(spans: InMemorySpanExporter) -> None:
    await _turn(None)
    assert spans.get_finished_spans() == ()


def test_no_endpoint_builds_no_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REALTIME2_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    assert tracing._from_environment() is None
    monkeypatch.setenv("REALTIME2_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    provider = tracing._from_environment()
    assert provider is not None
    provider.shutdown()
