"""Pointing the engine's STT, LLM and TTS roles at the upstream (`REALTIME2_UPSTREAM_PIPELINE`).

The engine already has OpenAI-compatible remote backends per role; gateway mode only
fills in their base URL and key from the upstream settings and picks the model names from
`REALTIME2_UPSTREAM_MODELS` (`stt=…,llm=…,tts=…`; unlisted roles keep the engine's
`REALTIME2_*_MODEL` defaults). A role explicitly configured with its own base URL keeps it.
VAD stays local: it runs on every audio frame and has no remote equivalent.
"""

from __future__ import annotations

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
    update: dict[str, object] = {}
    for role in PIPELINE_ROLES:
        update[f"{role}_backend"] = "openai"
        if not getattr(settings, f"{role}_base_url"):
            update[f"{role}_base_url"] = upstream.http_url("")
            update[f"{role}_api_key"] = upstream.api_key
        model = upstream.their_model(role)
        if model:
            update[f"{role}_model"] = model
    return settings.model_copy(update=update)
