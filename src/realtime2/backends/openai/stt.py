"""STT over an OpenAI-compatible `/audio/transcriptions` endpoint (multipart WAV upload)."""

from __future__ import annotations

import json

from realtime2.audio.encode import encode_wav
from realtime2.backends.openai.http import UpstreamClient
from realtime2.backends.openai.settings import RemoteRole, RemoteSTTSettings
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import (
    EngineUnavailableError,
    FloatAudio,
    Priority,
    STTCapabilities,
    Transcript,
)

SAMPLE_RATE = 16000


class OpenAISTT:
    """`capabilities.languages` is empty: the upstream decides which languages it knows."""

    def __init__(self, role: RemoteRole) -> None:
        self._http = UpstreamClient(role, "STT upstream")
        self.name = role.model
        self.capabilities = STTCapabilities(streaming=False, sample_rate=SAMPLE_RATE, languages=())

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        seconds = audio.size / SAMPLE_RATE
        data: dict[str, str] = {"model": self.name, "response_format": "json"}
        if language:
            data["language"] = language
        if prompt:
            data["prompt"] = prompt
        files = {"file": ("audio.wav", encode_wav(audio, SAMPLE_RATE), "audio/wav")}
        response = await self._http.request("POST", "audio/transcriptions", data=data, files=files)
        try:
            body = json.loads(response.content)
            text = str(body["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineUnavailableError(
                "STT upstream sent an unexpected response", code="upstream_unavailable"
            ) from exc
        return Transcript(
            text=text.strip(), language=body.get("language") or language, audio_seconds=seconds
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def build(settings: RemoteSTTSettings, _shared: Shared) -> OpenAISTT:
    return OpenAISTT(settings.remote())


register_backend(
    "stt",
    "openai",
    settings=RemoteSTTSettings,
    build=build,
    describe=RemoteSTTSettings.describe,
    local=False,  # ready once configured: the upstream is not ours to wait for
    fix="check REALTIME2_STT_BASE_URL (or REALTIME2_OPENAI_BASE_URL) and its API key",
)
