"""Shared pieces for realtime benchmarks: an in-process server and a real-time talker.

`live_server()` serves the real app with the embedded engines on a free port, in this
process's event loop (uvicorn), and records every `SessionRunner` it creates so a
benchmark can read server-side counters. `Talker` streams speech over one WebSocket
session at real-time pace (one `input_audio_buffer.append` per chunk, scheduled against
the wall clock, so a busy loop catches up instead of drifting) and timestamps the server
events a latency figure needs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tests.support.server import running
from websockets.asyncio.client import ClientConnection, connect

RATE = 24000  # the Realtime API's pcm16 rate
# What the simulated users ask, in turn.
QUESTIONS = (
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What color is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "What is two plus three?",
    "Which animal says moo?",
    "What do bees make?",
    "How many days are in a week?",
    "What is the opposite of hot?",
    "Where does the sun rise?",
)
INSTRUCTIONS = "You are a voice assistant. Answer in one short sentence."
VOICED_LEVEL = 500  # |sample| above this counts as voiced (speech peaks are ~20000)


@dataclass
class LiveServer:
    url: str
    services: Any
    runners: list[Any]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/realtime"


@asynccontextmanager
async def live_server(
    *, speculative: bool = True, as_served: bool = True
) -> AsyncIterator[LiveServer]:
    """The app with real engines on 127.0.0.1; `speculative=False` turns drafts off.

    `as_served=True` brings the engines up as `realtime2 serve` does (`EngineHost`: load, then
    one warm-up inference each, which is also where the STT calibrates itself to the CPU), so
    what is measured is what a user gets after `/readyz`. False: loaded only, no warm-up."""
    from realtime2.app import create_app
    from realtime2.config import Settings
    from realtime2.db.migrate import upgrade
    from realtime2.engine.config import EngineSettings
    from realtime2.engine.registry import EngineHost, build_engines
    from realtime2.realtime import runner as runner_module
    from realtime2.state import Services
    from realtime2.transports import websocket as ws_module

    runners: list[Any] = []
    original = runner_module.SessionRunner

    class RecordingRunner(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("speculative", speculative)
            super().__init__(*args, **kwargs)
            runners.append(self)

    with tempfile.TemporaryDirectory(prefix="rt2-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            secret_key="bench-" + secrets.token_hex(8),
        )
        services = Services.build(settings)
        await upgrade(services.db)
        engine_settings = EngineSettings(_env_file=None)  # type: ignore[call-arg]
        if as_served:
            services.engines = EngineHost(engine_settings)
            await services.engines.wait_ready()
        else:
            engines = await asyncio.to_thread(build_engines, engine_settings)
            services.engines = EngineHost.with_engines(engines)
        ws_module.SessionRunner = RecordingRunner  # type: ignore[misc, attr-defined]
        app = create_app(settings, services)
        try:
            async with running(app, ws_max_size=20 * 1024 * 1024) as server:
                yield LiveServer(f"http://127.0.0.1:{server.config.port}", services, runners)
        finally:
            ws_module.SessionRunner = original  # type: ignore[misc, attr-defined]
            await services.close()


async def new_key(services: Any, credits: int) -> tuple[int, str]:
    user = await services.users.create(f"bench-{secrets.token_hex(4)}@example.com", "pw-bench-1")
    await services.ledger.top_up(user.id, credits)
    _, raw = await services.keys.create(user.id, "bench")
    return int(user.id), str(raw)


def last_voiced_sample(pcm: bytes) -> int:
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    voiced = np.flatnonzero(samples > VOICED_LEVEL)
    return int(voiced[-1]) + 1 if voiced.size else 0


@dataclass
class TurnResult:
    voice_end_sent: float  # wall time the chunk holding the last voiced sample went out
    speech_stopped: float | None = None
    first_audio: float | None = None
    done: float | None = None
    transcript: str = ""
    status: str = ""
    input_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens the LLM reused from its cache
    # Silence heard inside the reply: played in real time from its first audio, the time
    # each audio delta arrived after the audio before it had run out (a shorter first chunk
    # is only faster if the next one is ready before it ends).
    stall_s: float = 0.0


JITTER_S = 0.02  # a late delta within this is a player's jitter buffer's business


def playback_stall(events: list[tuple[float, dict[str, Any]]]) -> float:
    """Seconds a listener playing `events`' audio deltas as they came would wait mid-reply."""
    stalled = 0.0
    runs_out: float | None = None  # when the audio received so far has played
    for at, event in events:
        if event["type"] != "response.output_audio.delta":
            continue
        seconds = len(base64.b64decode(event["delta"])) / 2 / RATE
        if runs_out is not None and at > runs_out + JITTER_S:
            stalled += at - runs_out
        runs_out = max(runs_out or at, at) + seconds
    return stalled


@dataclass
class Talker:
    """One client session that talks in real time and times the replies."""

    ws: ClientConnection
    chunk_ms: int = 20
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, key: str, *, chunk_ms: int = 20) -> AsyncIterator[Talker]:
        async with connect(
            url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
        ) as ws:
            talker = cls(ws, chunk_ms)
            talker._reader = asyncio.create_task(talker._read())
            try:
                yield talker
            finally:
                talker._reader.cancel()

    async def _read(self) -> None:
        async for message in self.ws:
            self.events.append((time.perf_counter(), json.loads(message)))
            self._changed.set()

    async def send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    async def wait_for(self, kind: str, after: int = 0, limit_s: float = 120.0) -> int:
        """Index of the first event of `kind` at or after index `after`."""
        deadline = time.perf_counter() + limit_s
        while True:
            for i in range(after, len(self.events)):
                if self.events[i][1]["type"] == kind:
                    return i
            self._changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {kind} within {limit_s} s")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                continue

    async def stream(self, pcm: bytes, *, voiced_end: int | None = None) -> float | None:
        """Send `pcm` (24 kHz s16le) paced at real time; return when `voiced_end` went out."""
        step = RATE * self.chunk_ms // 1000 * 2
        start = time.perf_counter()
        sent_voiced_end: float | None = None
        for i, offset in enumerate(range(0, len(pcm), step)):
            due = start + i * self.chunk_ms / 1000
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            chunk = pcm[offset : offset + step]
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}
            )
            if (
                voiced_end is not None
                and sent_voiced_end is None
                and offset + len(chunk) >= voiced_end * 2
            ):
                sent_voiced_end = time.perf_counter()
        return sent_voiced_end

    async def spoken_turn(
        self, speech: bytes, *, lead_ms: int = 300, tail_ms: int = 900, listen: bool = False
    ) -> TurnResult:
        """Silence, the utterance, silence; then wait for the reply to finish (with `listen`,
        also until its audio would have played out, as a person would before answering)."""
        lead = b"\0" * (RATE * lead_ms // 1000 * 2)
        tail = b"\0" * (RATE * tail_ms // 1000 * 2)
        mark = len(self.events)
        voiced = len(lead) // 2 + last_voiced_sample(speech)
        sent = await self.stream(lead + speech + tail, voiced_end=voiced)
        assert sent is not None
        result = TurnResult(voice_end_sent=sent)
        done = await self.wait_for("response.done", mark)
        for at, event in self.events[mark : done + 1]:
            kind = event["type"]
            if kind == "input_audio_buffer.speech_stopped" and result.speech_stopped is None:
                result.speech_stopped = at
            elif kind == "response.output_audio.delta" and result.first_audio is None:
                result.first_audio = at
            elif kind == "conversation.item.input_audio_transcription.completed":
                result.transcript = event["transcript"]
            elif kind == "error":
                raise RuntimeError(f"server error: {event['error'].get('code')}")
        result.done = self.events[done][0]
        result.stall_s = playback_stall(self.events[mark : done + 1])
        if listen and result.first_audio is not None:
            played = sum(
                len(base64.b64decode(event["delta"])) // 2
                for _, event in self.events[mark : done + 1]
                if event["type"] == "response.output_audio.delta"
            )
            ends = result.first_audio + played / RATE
            await asyncio.sleep(max(0.0, ends - time.perf_counter()))
        response = self.events[done][1]["response"]
        result.status = response["status"]
        usage = response.get("usage") or {}
        result.input_tokens = int(usage.get("input_tokens") or 0)
        details = usage.get("input_token_details") or {}
        result.cached_tokens = int(details.get("cached_tokens") or 0)
        return result
