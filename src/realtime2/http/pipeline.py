"""`POST /api/realtime2/pipeline`: the Starter Voice STT → LLM → TTS endpoint.

Billing (realtime2.http.billing): a hold covers the pre-flight estimate before any work,
decoding included; a balance below it gets 402. With audio the estimate is the decoded
length (the client's `durationSeconds` counts only for text turns), and the decode stops
at what the balance covers. The capture charges the measured seconds of input audio plus
reply audio × the model's rate. A failure of ours releases the hold; a client that leaves,
or audio without speech, is charged the input it sent.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile

from realtime2.accounts.pricing import STARTER_VOICE
from realtime2.audio.encode import encode_mp3
from realtime2.edge.admission import ready_engines
from realtime2.engine.capabilities import speaks
from realtime2.engine.interfaces import ChatMessage, EngineUnavailableError
from realtime2.engine.voices import DEFAULT_VOICE, VOICES
from realtime2.errors import ApiError, invalid_request
from realtime2.http.audio_upload import decode_paid_audio
from realtime2.http.auth import CurrentPrincipal
from realtime2.http.billing import metered_request
from realtime2.observability.context import bind_session
from realtime2.pipeline.turn import NothingToAnswerError, TurnInput, run_turn
from realtime2.state import services_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["pipeline"])

MAX_AUDIO_BYTES = 25 * 1024 * 1024
MAX_BODY_BYTES = MAX_AUDIO_BYTES + 1024 * 1024
# A text field (messages: 50 × 4,000 characters at most) is parsed in memory; only the file
# part may be large, and it is spooled to disk as it streams in.
MAX_FIELD_BYTES = 256 * 1024
MAX_TEXT_CHARS = 4000
MAX_INSTRUCTIONS_CHARS = 4000
MAX_MESSAGES = 50
MAX_DURATION_SECONDS = 600.0
# Reply audio is not known before the work; the estimate assumes at least this much.
ESTIMATED_REPLY_SECONDS = 5
_FIELDS = {"model", "voice", "text", "audio", "durationSeconds", "messages", "instructions"}


@dataclass(frozen=True)
class PipelineRequest:
    voice: str
    text: str
    audio: bytes | None
    duration_seconds: float | None
    messages: list[ChatMessage]
    instructions: str


def unsupported_voice(voice: str, voices: Sequence[str] = VOICES) -> ApiError:
    return ApiError(
        400,
        "unsupported_voice",
        f"Unknown voice {voice[:40]!r}. Supported voices: {', '.join(voices)}.",
        param="voice",
    )


async def read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise ApiError(415, "invalid_content_type", "Send the request as multipart/form-data.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "audio_too_large", "The request is larger than 25 MB.", param="audio")
    try:
        return await request.form(max_files=1, max_fields=20, max_part_size=MAX_FIELD_BYTES)
    except Exception as exc:  # starlette raises MultiPartException / HTTPException
        raise invalid_request(f"Could not parse the form: {str(exc)[:200]}") from None


def _text_field(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid_request(f"{name} must be a text field.", param=name)
    if len(value) > limit:
        raise invalid_request(f"{name} is longer than {limit} characters.", param=name)
    return value


def _parse_messages(raw: str) -> list[ChatMessage]:
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        raise invalid_request("messages must be a JSON list.", param="messages") from None
    if not isinstance(items, list):
        raise invalid_request("messages must be a JSON list.", param="messages")
    if len(items) > MAX_MESSAGES:
        raise invalid_request(f"At most {MAX_MESSAGES} messages.", param="messages")
    messages: list[ChatMessage] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid_request(f"messages[{i}] must be an object.", param="messages")
        role, text = item.get("role"), item.get("text", item.get("content"))
        if role not in ("user", "assistant") or not isinstance(text, str):
            raise invalid_request(
                f"messages[{i}] needs role 'user' or 'assistant' and a text string.",
                param="messages",
            )
        if len(text) > MAX_TEXT_CHARS:
            raise invalid_request(f"messages[{i}].text is too long.", param="messages")
        messages.append(ChatMessage(role, text))
    return messages


async def parse_request(form: FormData) -> PipelineRequest:
    unknown = set(form.keys()) - _FIELDS
    if unknown:
        name = sorted(unknown)[0][:40]
        raise invalid_request(f"Unknown field {name!r}.", param=name)
    model = _text_field(form, "model", 100)
    if not model:
        raise invalid_request("model is required (starter-voice).", param="model")
    if model != STARTER_VOICE:
        raise ApiError(
            400,
            "unsupported_model",
            f"This endpoint serves only {STARTER_VOICE}; "
            "realtime-mini and realtime-pro use /api/realtime2/session.",
            param="model",
        )
    voice = _text_field(form, "voice", 100) or DEFAULT_VOICE
    if voice not in VOICES:
        raise unsupported_voice(voice)
    duration: float | None = None
    raw_duration = _text_field(form, "durationSeconds", 32)
    if raw_duration:
        try:
            duration = float(raw_duration)
        except ValueError:
            raise invalid_request(
                "durationSeconds must be a number.", param="durationSeconds"
            ) from None
        if not (0 <= duration <= MAX_DURATION_SECONDS) or math.isnan(duration):
            raise invalid_request(
                f"durationSeconds must be between 0 and {MAX_DURATION_SECONDS:.0f}.",
                param="durationSeconds",
            )
    audio: bytes | None = None
    upload = form.get("audio")
    if isinstance(upload, UploadFile):
        audio = await upload.read(MAX_AUDIO_BYTES + 1)
        if len(audio) > MAX_AUDIO_BYTES:
            raise ApiError(413, "audio_too_large", "audio is larger than 25 MB.", param="audio")
        if not audio:
            raise invalid_request("audio is empty.", param="audio")
    elif upload is not None:
        raise invalid_request("audio must be a file upload.", param="audio")
    text = _text_field(form, "text", MAX_TEXT_CHARS)
    if audio is None and not text.strip():
        raise invalid_request("Send text, audio, or both.", param="text")
    return PipelineRequest(
        voice=voice,
        text=text,
        audio=audio,
        duration_seconds=duration,
        messages=_parse_messages(_text_field(form, "messages", 200_000)),
        instructions=_text_field(form, "instructions", MAX_INSTRUCTIONS_CHARS),
    )


@router.post("/api/realtime2/pipeline")
async def pipeline(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    services = services_of(request)
    parsed = await parse_request(await read_form(request))
    engines = await ready_engines(services)
    if not speaks(engines.tts, parsed.voice):  # a TTS may offer fewer than the six names
        raise unsupported_voice(parsed.voice, engines.tts.capabilities.voices)
    reference = f"pipe_{secrets.token_hex(10)}"
    bind_session(reference)  # log lines of this request carry its reference
    # With audio, the hold starts at the least any audio turn costs (so a user without
    # credit is refused before anything is decoded) and grows to the decoded length;
    # `durationSeconds` is the client's claim and counts only when there is no audio.
    claimed = 1.0 if parsed.audio is not None else math.ceil(parsed.duration_seconds or 0)
    estimate = claimed + ESTIMATED_REPLY_SECONDS
    async with metered_request(
        services, principal, STARTER_VOICE, estimate, reference=reference
    ) as bill:
        audio = None
        if parsed.audio is not None:
            stt_rate = engines.stt.capabilities.sample_rate
            audio, input_seconds = await decode_paid_audio(
                services.settings,
                bill,
                parsed.audio,
                stt_rate,
                param="audio",
                other_seconds=ESTIMATED_REPLY_SECONDS,
            )
            # From here the input is being worked on: it is charged even if the client
            # leaves or the audio turns out to hold no speech.
            await bill.progress(input_seconds, ahead=ESTIMATED_REPLY_SECONDS)
        try:
            result = await run_turn(
                engines,
                TurnInput(audio, parsed.text, parsed.messages, parsed.instructions, parsed.voice),
            )
            mp3 = encode_mp3(result.pcm, result.sample_rate)
        except NothingToAnswerError as exc:
            raise ApiError(400, "no_speech", str(exc), param="audio") from None
        except ValueError as exc:
            if "voice" not in str(exc):
                raise
            bill.seconds = 0  # our voice list and the engine's disagree: not the client's doing
            raise unsupported_voice(parsed.voice) from None
        except EngineUnavailableError as exc:
            raise ApiError(503, exc.code, str(exc)) from None
        seconds = math.ceil(result.input_seconds + result.output_seconds - 1e-9)
        bill.seconds = float(seconds)
        bill.details = {
            "input_seconds": round(result.input_seconds, 3),
            "output_seconds": round(result.output_seconds, 3),
        }
    settlement = bill.settlement
    if settlement is not None:
        charged, balance = settlement.charged, settlement.balance_after
    else:  # the hold expired first and was settled at its recorded use
        charged = bill.billed_seconds * bill.rate
        balance = (await services.ledger.balance(principal.user_id)).available
    log.info(
        "pipeline %s: in %.2fs out %.2fs charged %d",
        reference,
        result.input_seconds,
        result.output_seconds,
        charged,
    )
    return {
        "transcript": result.transcript,
        "assistantText": result.assistant_text,
        "audioBase64": base64.b64encode(mp3).decode(),
        "audioContentType": "audio/mpeg",
        "model": engines.llm.name,
        "modelId": STARTER_VOICE,
        "voice": parsed.voice,
        "usage": {
            "seconds": seconds,
            "inputSeconds": round(result.input_seconds, 3),
            "outputSeconds": round(result.output_seconds, 3),
            "credits": charged,
            "balance": balance,
        },
        "timings": {k: round(v, 4) for k, v in result.timings.items()},
    }
