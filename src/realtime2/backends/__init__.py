"""Implementations of the engine interfaces: `local` (embedded models) and `openai` (HTTP).

Each module below ends with `register_backend(...)` (`realtime2.engine.catalog`): its role,
name, settings model and builder. A new backend is one new module, one line here, and its
tests. The registry imports these modules the first time it is asked for a backend.
"""

MODULES: tuple[str, ...] = (
    "realtime2.backends.local.silero_vad",
    "realtime2.backends.local.smart_turn",
    "realtime2.backends.local.webrtc_vad",
    "realtime2.backends.local.whisper_stt",
    "realtime2.backends.local.llama_backend",
    "realtime2.backends.local.piper_tts",
    "realtime2.backends.local.espeak_tts",
    "realtime2.backends.openai.stt",
    "realtime2.backends.openai.llm",
    "realtime2.backends.openai.tts",
)
