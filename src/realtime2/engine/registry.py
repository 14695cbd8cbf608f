"""Build the process's `Engines` from `EngineSettings`, loading models in the background.

Each role's backend is the one registered under the configured name (`engine.catalog`):
its own settings model, its builder, whether it is local (warmed up) and its fix line.

`EngineHost.start()` returns at once; a loader thread brings up each role in turn (VAD,
end-of-turn model, TTS, STT, LLM: the STT's warm-up transcribes the TTS's) and logs its
progress. A local engine is ready only after one real inference (`warmup`); remote ones
are ready once built (their server may still be starting, and is not ours to wait for).
`/readyz` reads `status()`, request handlers `await host.wait_ready()` or check
`host.ready`. A missing dependency or model, or a failed warm-up, is recorded as a one-line
error for that role that names the fix (and logged once), never a traceback; `on_failure`
hears of it, so that `realtime2 serve` can stop instead of serving without an engine.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from realtime2.engine import warmup
from realtime2.engine.catalog import ROLES, Role
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import (
    LLM,
    STT,
    TTS,
    VAD,
    Engines,
    EngineUnavailableError,
    FloatAudio,
    TurnModel,
)
from realtime2.engine.transcript_pace import TranscriptPace

log = logging.getLogger(__name__)

State = Literal["pending", "loading", "ready", "failed"]


@dataclass
class RoleStatus:
    backend: str
    state: State = "pending"
    error: str | None = None
    seconds: float | None = None  # loading
    warmup_seconds: float | None = None  # the first inference (None: not warmed, e.g. remote)
    runtime: str | None = None  # what the backend chose at load, e.g. llama.cpp's CPU variant


# --- building: each role's configured backend, by name (`engine.catalog`) --------------


def describe(role: Role, settings: EngineSettings) -> str:
    """Human-readable backend description for logs and status (no secrets)."""
    return str(settings.backend(role).describe(settings.options(role)))


def build(role: Role, settings: EngineSettings) -> Any:
    """Build `role`'s configured backend now; blocks while it loads."""
    entry = settings.backend(role)
    entry.check_installed()
    return entry.build(settings.options(role), settings)


def build_vad(settings: EngineSettings) -> VAD:
    return cast(VAD, build("vad", settings))


def build_stt(settings: EngineSettings) -> STT:
    return cast(STT, build("stt", settings))


def build_llm(settings: EngineSettings) -> LLM:
    return cast(LLM, build("llm", settings))


def build_tts(settings: EngineSettings) -> TTS:
    return cast(TTS, build("tts", settings))


def build_turn(settings: EngineSettings) -> TurnModel | None:
    return cast("TurnModel | None", build("turn", settings))  # None: the "none" backend


BUILDERS: dict[Role, Callable[[EngineSettings], Any]] = {
    "vad": build_vad,
    "turn": build_turn,
    "stt": build_stt,
    "llm": build_llm,
    "tts": build_tts,
}


def _engines(built: dict[Role, Any], settings: EngineSettings) -> Engines:
    """The process's engines from its built backends, with what they share."""
    return Engines(
        built["vad"],
        built["stt"],
        built["llm"],
        built["tts"],
        built["turn"],
        transcript_pace=TranscriptPace(settings.draft_guesses),
    )


def build_engines(settings: EngineSettings | None = None) -> Engines:
    """Load every role now, in the calling thread (scripts, benchmarks, tests)."""
    settings = settings or EngineSettings()
    built = {role: BUILDERS[role](settings) for role in ROLES}
    return _engines(built, settings)


# --- the host --------------------------------------------------------------------------


class EngineHost:
    """Owns the process's engines: loads them once, in the background, and reports status."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings or EngineSettings()
        self._roles = {role: RoleStatus(describe(role, self.settings)) for role in ROLES}
        self._on_failure = on_failure
        self._speech: tuple[FloatAudio, int] | None = None  # the TTS warm-up, for the STT's
        self._built: dict[Role, Any] = {}
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._engines: Engines | None = None

    @classmethod
    def with_engines(cls, engines: Engines) -> EngineHost:
        """A host that is ready at once with the given engines (tests, fakes, embedding)."""
        host = cls()
        host._built = {
            "vad": engines.vad,
            "stt": engines.stt,
            "llm": engines.llm,
            "tts": engines.tts,
            "turn": engines.turn,
        }
        for role in ROLES:
            built = host._built[role]
            name = "none" if built is None else type(built).__name__
            host._roles[role] = RoleStatus(name, "ready", None, 0.0)
        host._engines = engines
        host._done.set()
        return host

    def start(self) -> None:
        """Begin loading in a background thread; returns immediately. Idempotent."""
        if self._thread is not None or self._done.is_set():
            return
        self._thread = threading.Thread(target=self._load_all, name="engine-loader", daemon=True)
        self._thread.start()

    @property
    def ready(self) -> bool:
        return self._engines is not None

    @property
    def engines(self) -> Engines:
        """The loaded engines; raises `EngineUnavailableError` until all roles are ready."""
        if self._engines is None:
            raise EngineUnavailableError(self._unavailable_message())
        return self._engines

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "roles": {
                role: {
                    "backend": s.backend,
                    "state": s.state,
                    "error": s.error,
                    "load_seconds": None if s.seconds is None else round(s.seconds, 3),
                    "warmup_seconds": (
                        None if s.warmup_seconds is None else round(s.warmup_seconds, 3)
                    ),
                    "runtime": s.runtime,
                }
                for role, s in self._roles.items()
            },
        }

    async def wait_ready(self) -> Engines:
        """Wait for loading to finish; raises `EngineUnavailableError` if a role failed.

        Bound the wait with `asyncio.timeout(...)`; it is cancellable within 0.25 s.
        """
        self.start()
        while not await asyncio.to_thread(self._done.wait, 0.25):
            pass
        return self.engines

    def close(self) -> None:
        """Stop the local models' worker threads (remote backends hold no threads)."""
        for backend in self._built.values():
            close = getattr(backend, "close", None)
            if callable(close):
                close()

    def _unavailable_message(self) -> str:
        failed = [f"{r}: {s.error}" for r, s in self._roles.items() if s.state == "failed"]
        if failed:
            return "engine failed to load (" + "; ".join(failed) + ")"
        return "engines are still loading"

    def _load_all(self) -> None:
        try:
            for role in ROLES:
                self._load(role)
            if all(s.state == "ready" for s in self._roles.values()):
                self._engines = _engines(self._built, self.settings)
                log.info("engines ready")
        finally:
            self._done.set()
        if self._engines is None and self._on_failure is not None:
            self._on_failure(self._unavailable_message())

    def _load(self, role: Role) -> None:
        status = self._roles[role]
        status.state = "loading"
        log.info("loading %s (%s)…", role, status.backend)
        started = time.perf_counter()
        step = "load"
        try:
            self._built[role] = backend = BUILDERS[role](self.settings)
            status.seconds = time.perf_counter() - started
            status.runtime = getattr(backend, "runtime", None)
            if self._is_local(role):
                step, warm_started = "warm-up", time.perf_counter()
                asyncio.run(self._warm(role, backend))
                status.warmup_seconds = time.perf_counter() - warm_started
        except EngineUnavailableError as exc:
            status.state, status.error = "failed", f"{exc}; fix: {self._fix(role)}"
        except Exception as exc:  # any loader failure becomes one status line, not a crash
            reason = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
            status.state = "failed"
            status.error = f"{step} failed ({reason}); fix: {self._fix(role)}"
        else:
            status.state = "ready"
        if status.seconds is None:
            status.seconds = time.perf_counter() - started
        if status.state == "ready":
            warm = (
                "" if status.warmup_seconds is None else f", warm-up {status.warmup_seconds:.2f} s"
            )
            log.info("%s ready: loaded in %.1f s%s", role, status.seconds, warm)
        else:
            log.error("%s failed: %s", role, status.error)

    def _is_local(self, role: Role) -> bool:
        return self.settings.backend(role).local

    def _fix(self, role: Role) -> str:
        return self.settings.backend(role).fix or "see docs/engine.md"

    async def _warm(self, role: Role, backend: Any) -> None:
        """One real inference through the interface sessions use (`engine.warmup`)."""
        if role == "vad":
            warmup.warm_vad(backend)
        elif role == "turn":
            await warmup.warm_turn(backend)
        elif role == "tts":
            self._speech = (await warmup.warm_tts(backend), backend.capabilities.sample_rate)
        elif role == "stt":
            speech, rate = self._speech or (None, 0)
            await warmup.warm_stt(backend, speech, rate)
        else:
            await warmup.warm_llm(backend)
