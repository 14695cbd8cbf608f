"""OpenAI-compatible audio endpoints on the configured engines, with our keys and credits:
`POST /v1/audio/transcriptions` and `POST /v1/audio/speech`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from realtime2.accounts.pricing import AUDIO_SPEECH, AUDIO_TRANSCRIPTION
from realtime2.audio.encode import content_type, encode_audio
from realtime2.audio.pcm import float_to_pcm16, pcm16_to_float
from realtime2.audio.resample import resample
from realtime2.edge.admission import ready_engines
from realtime2.engine.capabilities import speaks
from realtime2.engine.interfaces import EngineUnavailableError, Priority
from realtime2.engine.voices import VOICES
from realtime2.errors import ApiError, invalid_request
from realtime2.http.audio_upload import decode_paid_audio
from realtime2.http.auth import CurrentPrincipal
from realtime2.http.billing import metered_request
from realtime2.http.pipeline import (
    MAX_AUDIO_BYTES,
    read_form,
    unsupported_voice,
)
from realtime2.protocol.models import TRANSCRIPTION_MODELS
from realtime2.state import services_of

router = APIRouter(tags=["openai-compatible"])
MAX_SPEECH_CHARS = 4096
_TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json")
_TRANSCRIPTION_FIELDS = {
    "file", "model", "language", "prompt", "response_format", "temperature",
    "timestamp_granularities[]", "stream", "chunking_strategy", "include[]",
}  # fmt: skip


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(request: Request, principal: CurrentPrincipal) -> Any:
    services = services_of(request)
    form = await read_form(request)
    unknown = set(form.keys()) - _TRANSCRIPTION_FIELDS
    if unknown:
        raise invalid_request(f"Unknown field {sorted(unknown)[0][:40]!r}.")
    model = form.get("model")
    if not isinstance(model, str) or not model:
        raise invalid_request("model is required (e.g. whisper-1).", param="model")
    if model not in TRANSCRIPTION_MODELS:
        raise ApiError(
            400, "unsupported_model", f"Unknown transcription model {model[:60]!r}.", param="model"
        )
    response_format = form.get("response_format") or "json"
    if response_format not in _TRANSCRIPTION_FORMATS:
        raise invalid_request(
            f"response_format must be one of {', '.join(_TRANSCRIPTION_FORMATS)}.",
            param="response_format",
        )
    if form.get("stream") not in (None, "false", "False"):
        raise invalid_request("Streaming transcription is not supported here.", param="stream")
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise invalid_request("file is required (an audio file upload).", param="file")
    data = await upload.read(MAX_AUDIO_BYTES + 1)
    if len(data) > MAX_AUDIO_BYTES:
        raise ApiError(413, "audio_too_large", "file is larger than 25 MB.", param="file")
    language = form.get("language")
    prompt = form.get("prompt")
    engines = await ready_engines(services)
    rate = engines.stt.capabilities.sample_rate
    # The hold comes before the decode (an unfunded client costs nothing) and grows to the
    # decoded length; the decode stops at what the balance covers.
    async with metered_request(services, principal, AUDIO_TRANSCRIPTION, 1) as bill:
        audio, seconds = await decode_paid_audio(services.settings, bill, data, rate, param="file")
        await bill.progress(seconds, ahead=0)  # the whole job, should this process die
        try:
            result = await engines.stt.transcribe(
                audio,
                language=language if isinstance(language, str) and language else None,
                prompt=prompt if isinstance(prompt, str) and prompt else None,
                priority=Priority.BACKGROUND,
            )
        except EngineUnavailableError as exc:
            raise ApiError(503, exc.code, str(exc)) from None
    text = result.text.strip()
    if response_format == "text":
        return PlainTextResponse(text)
    usage = {"type": "duration", "seconds": bill.billed_seconds}
    if response_format == "verbose_json":
        return {
            "task": "transcribe",
            "language": result.language or "english",
            "duration": round(seconds, 3),
            "text": text,
            "usage": usage,
        }
    return {"text": text, "usage": usage}


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(min_length=1, max_length=100)
    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    voice: str | dict[str, str]
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(None, max_length=4096)
    stream_format: Literal["audio"] | None = None


@router.post("/v1/audio/speech", response_class=Response)
async def speech(body: SpeechRequest, request: Request, principal: CurrentPrincipal) -> Response:
    services = services_of(request)
    voice = body.voice if isinstance(body.voice, str) else body.voice.get("id", "")
    if voice not in VOICES:
        raise unsupported_voice(voice)
    if not body.input.strip():
        raise invalid_request("input is empty.", param="input")
    engines = await ready_engines(services)
    if not speaks(engines.tts, voice):  # a TTS may offer fewer than the six names
        raise unsupported_voice(voice, engines.tts.capabilities.voices)
    tts_rate = engines.tts.capabilities.sample_rate
    # Spoken English runs near 15 characters a second; the capture bills what was made.
    estimate = len(body.input) / 15 / body.speed + 1
    async with metered_request(services, principal, AUDIO_SPEECH, estimate) as bill:
        chunks: list[bytes] = []
        try:
            async for chunk in engines.tts.synthesize(
                body.input, voice=voice, priority=Priority.INTERACTIVE
            ):
                pcm = chunk.pcm
                if chunk.sample_rate != tts_rate:
                    pcm = float_to_pcm16(resample(pcm16_to_float(pcm), chunk.sample_rate, tts_rate))
                chunks.append(pcm)
                await bill.progress(sum(map(len, chunks)) / 2 / tts_rate)
        except EngineUnavailableError as exc:
            raise ApiError(503, exc.code, str(exc)) from None
        samples = pcm16_to_float(b"".join(chunks))
        if body.speed != 1.0:
            # Resampling as a speed change: simple and bounded; pitch moves with it.
            samples = resample(samples, round(tts_rate * body.speed), tts_rate)
        # `pcm` is 24 kHz like OpenAI's; containers keep the engine's own rate.
        out_rate = 24000 if body.response_format == "pcm" else tts_rate
        if out_rate != tts_rate:
            samples = resample(samples, tts_rate, out_rate)
        bill.seconds = samples.size / out_rate
        audio = encode_audio(samples, out_rate, body.response_format)
    return Response(audio, media_type=content_type(body.response_format))
