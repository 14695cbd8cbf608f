"""Pointing the engine's STT, LLM and TTS roles at the upstream (`REALTIME2_UPSTREAM_PIPELINE`).

The engine already has OpenAI-compatible remote backends per role (`openai` in the
registry); gateway mode selects them, fills in their base URL and key from the upstream
settings and picks the model names from `REALTIME2_UPSTREAM_MODELS` (`stt=…,llm=…,tts=…`;
unlisted roles keep the engine's `REALTIME2_*_MODEL` defaults). A role explicitly
configured with its own base URL keeps it. VAD stays local: it runs on every audio frame
and has no remote equivalent.
"""

from __future__ import annotations

from typing import Any, cast

from realtime2.engine.catalog import Role
from realtime2.engine.config import EngineSettings
from realtime2.gateway.upstream import PIPELINE_ROLES, Upstream


def engine_settings(
    upstream: Upstream | None, base: EngineSettings | None = None
) -> EngineSettings:
    """The engine settings to load: `base` (from the environment) unchanged unless the
    pipeline is routed upstream."""
    settings = base or EngineSettings()
    if upstream is None or not upstream.pipeline:
        return settings
    for name in PIPELINE_ROLES:
        role = cast(Role, name)
        update: dict[str, Any] = {}
        if not settings.options(role, "openai").base_url:
            update["base_url"] = upstream.http_url("")
            update["api_key"] = upstream.api_key
        model = upstream.their_model(role)
        if model:
            update["model"] = model
        settings = settings.configure(role, "openai", **update)
    return settings
