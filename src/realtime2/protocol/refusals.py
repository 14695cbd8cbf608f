"""Fields of the OpenAI Realtime API that this server accepts but cannot honour: refused
by name.

The rule (issue 23): an accepted field has its effect; otherwise the client gets an
`error` event naming the field (`param`) and the session or response is left unchanged.
`docs/compatibility.md` lists every field and what happens to it. The checks read the
merged session (or one response's config) and raise `ProtocolError`.
"""

from __future__ import annotations

from typing import Any, Final

from realtime2.protocol import client_events as ce
from realtime2.protocol.server_events import ProtocolError

UNSUPPORTED: Final = "unsupported_parameter"
# Speaker labels need a diarizing model; the embedded STT (whisper) has none.
UNSUPPORTED_TRANSCRIPTION_MODELS: Final = frozenset({"gpt-4o-transcribe-diarize"})


def _refuse(param: str, why: str) -> ProtocolError:
    return ProtocolError(UNSUPPORTED, f"Unsupported parameter '{param}': {why}", param=param)


def check_prompt(prompt: Any, param: str) -> None:
    """Stored prompts live in OpenAI's dashboard; this server has no prompt store."""
    if prompt is not None:
        raise _refuse(
            param, "stored prompts are not available on this server; send instructions instead."
        )


def check_transcription(tr: dict[str, Any] | None, param: str) -> None:
    """What the embedded STT can do with `audio.input.transcription`.

    `language`, `prompt` and `keywords` (a vocabulary hint added to the prompt) are used;
    `languages` may name one language (used as `language`); `delay` sets how live
    transcription trades latency for stability (`protocol.live_transcription`); a
    diarizing model is refused.
    """
    if tr is None:
        return
    model = tr.get("model")
    if model in UNSUPPORTED_TRANSCRIPTION_MODELS:
        raise ProtocolError(
            "unsupported_model",
            f"The model '{model}' (speaker diarization) is not supported in realtime sessions "
            "on this server.",
            param=f"{param}.model",
        )
    languages = tr.get("languages")
    if languages is not None:
        if len(languages) > 1:
            raise _refuse(
                f"{param}.languages",
                "the transcription model here takes one expected language (or none, to "
                "detect it); send one.",
            )
        language = tr.get("language")
        if languages and language is not None and language != languages[0]:
            raise ProtocolError(
                "invalid_value",
                "transcription.language and transcription.languages disagree.",
                param=f"{param}.languages",
            )


def transcription_language(tr: dict[str, Any]) -> str | None:
    language = tr.get("language")
    if language is None and tr.get("languages"):
        language = tr["languages"][0]
    return str(language) if language else None


def transcription_prompt(tr: dict[str, Any]) -> str | None:
    """The STT prompt: the client's prompt, then its keywords as a vocabulary hint."""
    parts = [str(tr.get("prompt") or "").strip()]
    keywords = [k.strip() for k in tr.get("keywords") or () if k.strip()]
    if keywords:
        parts.append(", ".join(keywords) + ".")
    text = " ".join(p for p in parts if p)
    return text or None


def check_response(config: ce.ResponseConfig) -> None:
    check_prompt(config.prompt, "response.prompt")
