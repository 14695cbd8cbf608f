"""OpenTelemetry spans for realtime sessions: the session's `tracing` field given effect.

A session whose `tracing` is `"auto"` or `{workflow_name, group_id, metadata}` (what
`openai-agents` sends by default) gets one span for the session and one per answered turn,
with a child span per stage: the user's speech as the VAD heard it (`vad`), and every model
job the turn ran until its first reply audio (`stt`, `llm`, `tts`), each with the time it
waited for its model. Spans carry ids, timings and the client's names, never transcripts,
prompts or keys. `tracing: null` (the default) records nothing.

Spans are exported with OTLP over HTTP when an endpoint is configured:
`REALTIME2_OTLP_ENDPOINT` (a collector's base URL; `/v1/traces` is appended), or the
standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` that the
exporter reads itself. Without one nothing is built and nothing is recorded.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

DEFAULT_WORKFLOW: Final = "Realtime Session"  # OpenAI's name for `tracing: "auto"`
_UNSET: Final = object()
_provider: Any = _UNSET
_lock = threading.Lock()


def configure(provider: TracerProvider | None) -> None:
    """Use `provider` for every session from now on (tests: an in-memory exporter)."""
    global _provider
    with _lock:
        _provider = provider


def _configured() -> TracerProvider | None:
    global _provider
    with _lock:
        if _provider is _UNSET:
            _provider = _from_environment()
        provider: TracerProvider | None = _provider
        return provider


def _from_environment() -> TracerProvider | None:
    ours = os.environ.get("REALTIME2_OTLP_ENDPOINT", "").strip()
    standard = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not ours and not standard:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if ours:
        base = ours.rstrip("/")
        exporter = OTLPSpanExporter(
            endpoint=base if base.endswith("/v1/traces") else f"{base}/v1/traces"
        )
    else:
        exporter = OTLPSpanExporter()  # reads the standard variables itself
    provider = TracerProvider(resource=Resource.create({"service.name": "realtime2"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _ns(perf: float, offset_ns: int) -> int:
    return int(perf * 1e9) + offset_ns


class SessionTracer:
    """The spans of one realtime session. Fed the session's events and each answered turn;
    records only while the session's `tracing` config (read each time) is on."""

    def __init__(self, session_id: str, model: str) -> None:
        self._session_id = session_id
        self._model = model
        self._provider = _configured()
        # perf_counter → Unix ns, for stage times measured with perf_counter.
        self._offset_ns = time.time_ns() - time.perf_counter_ns()
        self._started = time.perf_counter()
        self._span: Span | None = None
        self._tracer: Tracer | None = None
        self._speech_started: float | None = None
        self._stt: tuple[str, float, float, float] | None = None  # a turn's transcription
        self._turns = 0

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    def events(self, events: Iterable[Mapping[str, Any]]) -> None:
        if self._provider is None:
            return
        for event in events:
            if event.get("type") == "input_audio_buffer.speech_started":
                self._speech_started = time.perf_counter()

    def observe(
        self, model: str, priority: int, queued: float, started: float, ended: float
    ) -> None:
        """A job observer (`engine.scheduler.JOB_OBSERVER`) for a committed turn's
        transcription, which runs before the response's own clock starts."""
        del priority
        self._stt = (model, queued, started, ended)

    def turn(self, tracing: Any, stages: Any) -> None:
        """One answered turn (`realtime.stages.TurnStages`), under `tracing` (the session's
        current config: None, "auto" or a dict)."""
        if self._provider is None or tracing is None:
            return
        session = self._session(tracing)
        if session is None or self._tracer is None:
            return
        from opentelemetry import trace

        self._turns += 1
        work = stages.work
        begin = min(
            t
            for t in (self._speech_started, stages.speech_stopped, work and work.started)
            if t is not None
        )
        context = trace.set_span_in_context(session)
        turn = self._tracer.start_span(
            "realtime.turn",
            context=context,
            start_time=_ns(begin, self._offset_ns),
            attributes={
                "realtime.turn.index": self._turns,
                "realtime.turn.path": stages.path,
                "realtime.turn.first_audio_s": round(stages.first_audio - stages.speech_stopped, 4),
            },
        )
        inner = trace.set_span_in_context(turn)
        if self._speech_started is not None and self._speech_started <= stages.speech_stopped:
            vad = self._tracer.start_span(
                "vad", context=inner, start_time=_ns(self._speech_started, self._offset_ns)
            )
            vad.end(end_time=_ns(stages.speech_stopped, self._offset_ns))
        jobs = list(work.jobs) if work is not None else []
        if self._stt is not None and not any(job[0] == "stt" for job in jobs):
            jobs.insert(0, self._stt)
        for model, queued, started, ended in jobs:
            if started >= stages.first_audio:
                continue
            stage = "tts" if model.startswith("tts") else model
            span = self._tracer.start_span(
                stage,
                context=inner,
                start_time=_ns(started, self._offset_ns),
                attributes={
                    "realtime.model_queue": model,
                    "realtime.queue_wait_s": round(started - queued, 4) if queued else 0.0,
                },
            )
            span.end(end_time=_ns(ended, self._offset_ns))
        turn.end(end_time=_ns(stages.first_audio, self._offset_ns))
        self._speech_started = self._stt = None

    def _session(self, tracing: Any) -> Span | None:
        if self._span is not None:
            return self._span
        assert self._provider is not None
        self._tracer = self._provider.get_tracer("realtime2")
        config: Mapping[str, Any] = tracing if isinstance(tracing, Mapping) else {}
        attributes: dict[str, Any] = {
            "realtime.session_id": self._session_id,
            "realtime.model": self._model,
        }
        if config.get("group_id"):
            attributes["realtime.group_id"] = str(config["group_id"])[:256]
        for key, value in (config.get("metadata") or {}).items():
            if isinstance(value, str | int | float | bool):
                attributes[f"realtime.metadata.{str(key)[:64]}"] = value
        name = str(config.get("workflow_name") or DEFAULT_WORKFLOW)[:256]
        self._span = self._tracer.start_span(
            name, start_time=_ns(self._started, self._offset_ns), attributes=attributes
        )
        return self._span

    def close(self) -> None:
        if self._span is not None:
            self._span.end()
            self._span = None
