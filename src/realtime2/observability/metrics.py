"""Prometheus metrics for the whole process, served at `GET /metrics`.

One registry per process (not the client library's global one, so nothing from other
libraries leaks in). Label values are bounded: route templates (never raw paths), model
names, error codes, transports. Nothing identifying a user, key or conversation is a label.

Credits are counted from committed ledger captures (a hook in the ledger), so every
endpoint that charges — pipeline, WebSocket, WebRTC, the OpenAI-compatible routes — is
counted once, and a rolled-back capture is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from realtime2.accounts.ledger import on_capture

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "realtime2_http_requests",
    "HTTP requests (and WebSocket handshakes) by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "realtime2_http_request_duration_seconds",
    "Time to the end of the HTTP response, by route template.",
    ["route"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "realtime2_errors",
    "Errors sent to clients by code: HTTP error bodies and realtime `error` events.",
    ["code"],
    registry=REGISTRY,
)
SESSIONS_ACTIVE = Gauge(
    "realtime2_sessions_active",
    "Realtime sessions open now in this process.",
    ["transport"],
    registry=REGISTRY,
)
SESSIONS = Counter(
    "realtime2_sessions",
    "Realtime sessions opened, by transport and billing model.",
    ["transport", "model"],
    registry=REGISTRY,
)
RESPONSES = Counter(
    "realtime2_responses",
    "Realtime responses finished (response.done), by status.",
    ["status"],
    registry=REGISTRY,
)
TURNS = Counter(
    "realtime2_turns",
    "User turns answered with audio (the ones turn latency is measured on).",
    ["transport"],
    registry=REGISTRY,
)
TURN_LATENCY = Histogram(
    "realtime2_turn_latency_seconds",
    "From the end of the user's speech to the first reply audio.",
    ["transport"],
    buckets=(0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
    registry=REGISTRY,
)
TURN_STAGES = Histogram(
    "realtime2_turn_stage_seconds",
    "Spoken turns: from the start of the turn's work (where the voice faded or the pause "
    "began, when a speculative draft answered; the response's start otherwise) to each "
    "stage (first_job_started, stt_done, first_llm_text, first_tts_chunk, speech_stopped, "
    "first_audio_sent).",
    ["stage", "path"],
    buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
    registry=REGISTRY,
)
TURN_GATE_WAIT = Histogram(
    "realtime2_turn_gate_wait_seconds",
    "Spoken turns: time the turn's model jobs waited for their model and a CPU core "
    "(the CPU gate) before its first audio.",
    ["path"],
    buckets=(0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0),
    registry=REGISTRY,
)
AUDIO_READY_AT_STOP = Counter(
    "realtime2_turn_audio_ready_at_stop",
    "Spoken turns whose first reply audio was synthesised before speech_stopped.",
    registry=REGISTRY,
)
CREDITS = Counter(
    "realtime2_credits_charged",
    "Credits captured from holds (committed ledger captures), by model.",
    ["model"],
    registry=REGISTRY,
)

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# --- realtime sessions (called from the transports) ------------------------------------


def session_opened(transport: str, model: str) -> None:
    SESSIONS.labels(transport, model).inc()
    SESSIONS_ACTIVE.labels(transport).inc()


def session_closed(transport: str, turn_seconds: Iterable[float]) -> None:
    SESSIONS_ACTIVE.labels(transport).dec()
    for seconds in turn_seconds:
        TURNS.labels(transport).inc()
        TURN_LATENCY.labels(transport).observe(seconds)


def turn_stages(turn: Any) -> None:
    """One answered turn's stage timings (a `realtime.stages.TurnStages`)."""
    stages = turn.breakdown()
    path = stages["path"]
    start = stages["work_started"]
    if start is None:
        return
    for stage in ("first_job_started", "stt_done", "first_llm_text", "first_tts_chunk"):
        if stages[stage] is not None:
            TURN_STAGES.labels(stage, path).observe(max(0.0, stages[stage] - start))
    TURN_STAGES.labels("speech_stopped", path).observe(max(0.0, -start))
    TURN_STAGES.labels("first_audio_sent", path).observe(
        max(0.0, stages["first_audio_sent"] - start)
    )
    TURN_GATE_WAIT.labels(path).observe(stages["gate_wait_s"])
    if stages["first_tts_chunk"] is not None and stages["first_tts_chunk"] <= 0:
        AUDIO_READY_AT_STOP.inc()


def server_event(event: dict[str, Any]) -> None:
    """Count what matters in one outgoing realtime event (cheap: a type check)."""
    kind = event.get("type")
    if kind == "error":
        ERRORS.labels(str(event.get("error", {}).get("code") or "unknown")).inc()
    elif kind == "response.done":
        RESPONSES.labels(str(event.get("response", {}).get("status") or "unknown")).inc()


# --- credits, from committed ledger captures --------------------------------------------


@on_capture
def _count_capture(model: str, credits: int) -> None:
    CREDITS.labels(model).inc(credits)
