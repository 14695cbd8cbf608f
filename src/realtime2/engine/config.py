"""Engine settings: which backend serves each role, and what the backends share.

Every field is read from a `REALTIME2_`-prefixed environment variable (names are the
upper-cased field names, e.g. `REALTIME2_LLM_BACKEND=openai`). Everything specific to one
backend (a model path, a beam size, an upstream URL) lives in that backend's own settings
model, registered with it in `realtime2.engine.catalog` and read from its own variables;
`docs/engine.md` lists them all. Nothing here loads a model; `realtime2.engine.registry`
does that.

Code (tests, gateway mode) sets a backend's values without the environment:

    settings = EngineSettings().configure("llm", "local", model_path=Path("/m/x.gguf"))
    settings.options("llm").model_path  # -> Path("/m/x.gguf"); other fields from the env
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.engine import catalog
from realtime2.engine.catalog import Backend, Role
from realtime2.engine.scheduler import usable_cores
from realtime2.engine.transcript_pace import GuessMode


class EngineSettings(BaseSettings):
    # "forbid" refuses a backend's setting given here by its old flat name (use `configure`);
    # other REALTIME2_* variables in the environment are still ignored.
    model_config = SettingsConfigDict(env_prefix="REALTIME2_", extra="forbid")

    # Which registered backend serves each role (`catalog.names(role)` lists the choices).
    vad_backend: str = "silero"
    turn_backend: str = "smart-turn"  # semantic_vad's end-of-turn model ("none": words only)
    stt_backend: str = "local"
    llm_backend: str = "local"
    tts_backend: str = "local"

    # CPU threads per model. Each model also has its own worker thread and they run at
    # once, so on small machines one thread each avoids oversubscription: on 2 cores,
    # llama.cpp prompt evaluation with 2 threads stalled for seconds whenever whisper or
    # Piper took a core (bench/realtime_latency: median 2.28 s vs 7.50 s under load).
    threads: int = Field(default_factory=lambda: max(1, usable_cores() // 2), ge=1, le=64)

    # Early drafts' guesses (a transcript of the turn up to where the voice fades, and the
    # reply begun on it: docs/engine.md "Early drafts"): "auto" makes them on idle cores
    # while this process's turn transcripts are quick (`engine.transcript_pace`), "always"
    # on idle cores whatever the pace, "never" not at all (an operator who would rather
    # not spend ~4 whisper runs a turn on idle cores, or who measured the rule wrong here).
    draft_guesses: GuessMode = "auto"

    # Values given in code per (role, backend name); the rest comes from the environment.
    _options: dict[tuple[str, str], dict[str, Any]] = PrivateAttr(default_factory=dict)

    @field_validator("vad_backend", "turn_backend", "stt_backend", "llm_backend", "tts_backend")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        role: Role = info.field_name.removesuffix("_backend")  # type: ignore[union-attr,assignment]
        return catalog.backend(role, name).name  # aliases resolve to the registered name

    @model_validator(mode="after")
    def _backend_settings_valid(self) -> EngineSettings:
        for role in catalog.ROLES:  # a bad REALTIME2_STT_BEAM_SIZE fails here, at start-up
            self.options(role)
        return self

    def backend(self, role: Role) -> Backend[Any]:
        """The registered backend chosen for `role`."""
        return catalog.backend(role, getattr(self, f"{role}_backend"))

    def options(self, role: Role, name: str | None = None) -> Any:
        """The settings model of `role`'s backend (or of backend `name`): its environment
        variables, overridden by values given with `configure`."""
        entry = self.backend(role) if name is None else catalog.backend(role, name)
        return entry.load_settings(self._options.get((role, entry.name)))

    def configure(
        self, role: Role, name: str, *, select: bool = True, **values: Any
    ) -> EngineSettings:
        """A copy in which backend `name` serves `role` (unless `select=False`) with `values`
        set on its settings model (on top of any set before)."""
        entry = catalog.backend(role, name)
        unknown = set(values) - set(entry.settings.model_fields)
        if unknown:
            raise TypeError(f"{role} backend {entry.name!r} has no settings {sorted(unknown)}")
        key = (role, entry.name)
        merged = {**self._options.get(key, {}), **values}
        entry.load_settings(merged)  # invalid values fail here, not at load time
        copy = self.model_copy(update={f"{role}_backend": entry.name} if select else {})
        copy._options = {**self._options, key: merged}
        return copy
