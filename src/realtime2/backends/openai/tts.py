"""TTS over an OpenAI-compatible `/audio/speech` endpoint, streamed as raw pcm.

OpenAI's `pcm` format is s16le mono at 24 kHz. Chunks are passed on as they arrive (cut to
whole samples), so playback can start before the upstream has finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from realtime2.backends.openai.http import UpstreamClient
from realtime2.backends.openai.settings import RemoteRole, RemoteTTSSettings
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import AudioChunk, Priority, TTSCapabilities
from realtime2.engine.voices import VOICES

SAMPLE_RATE = 24000
_MIN_CHUNK_BYTES = 4800  # 100 ms: fewer, larger chunks for the transports


class OpenAITTS:
    def __init__(self, role: RemoteRole, voice_map: dict[str, str] | None = None) -> None:
        self._http = UpstreamClient(role, "TTS upstream")
        self._voice_map = {name: name for name in VOICES} | (voice_map or {})
        self.name = role.model
        self.capabilities = TTSCapabilities(
            streaming=True, sample_rate=SAMPLE_RATE, voices=VOICES, speed=True
        )

    async def synthesize(
        self,
        text: str,
        *,
        voice: str,
        priority: Priority = Priority.INTERACTIVE,
        speed: float = 1.0,
    ) -> AsyncIterator[AudioChunk]:
        if voice not in VOICES:
            raise ValueError(f"unknown voice {voice!r}; supported voices: {', '.join(VOICES)}")
        body: dict[str, object] = {
            "model": self.name,
            "input": text,
            "voice": self._voice_map[voice],
            "response_format": "pcm",
        }
        if speed != 1.0:
            body["speed"] = speed  # the speech API's own speed (0.25-4.0)
        pending = b""
        async with self._http.stream("POST", "audio/speech", json=body) as response:
            async for data in response.aiter_bytes():
                pending += data
                if len(pending) >= _MIN_CHUNK_BYTES:
                    usable = len(pending) - len(pending) % 2
                    yield AudioChunk(pcm=pending[:usable], sample_rate=SAMPLE_RATE)
                    pending = pending[usable:]
        usable = len(pending) - len(pending) % 2
        if usable:
            yield AudioChunk(pcm=pending[:usable], sample_rate=SAMPLE_RATE)

    async def aclose(self) -> None:
        await self._http.aclose()


def build(settings: RemoteTTSSettings, _shared: Shared) -> OpenAITTS:
    return OpenAITTS(settings.remote(), settings.voice_map)


register_backend(
    "tts",
    "openai",
    settings=RemoteTTSSettings,
    build=build,
    describe=RemoteTTSSettings.describe,
    local=False,  # ready once configured: the upstream is not ours to wait for
    fix="check REALTIME2_TTS_BASE_URL (or REALTIME2_OPENAI_BASE_URL) and its API key",
)
