"""Asking a backend's capability record before using it, instead of assuming a vendor.

Every backend states what it can do (`TTSCapabilities.voices`, `LLMCapabilities.tools`);
callers check here rather than against a fixed list, so a backend that offers fewer voices
or no function calling is refused by name, not failed deep inside.
"""

from __future__ import annotations

from dataclasses import replace

from realtime2.engine.interfaces import LLM, TTS, LLMRequest


class UnsupportedRequestError(ValueError):
    """The configured backend cannot serve this request; the message says what and why."""


def speaks(tts: TTS, voice: str) -> bool:
    """Whether `tts` offers `voice` (its `capabilities.voices`)."""
    return voice in tts.capabilities.voices


def offer_tools(llm: LLM, request: LLMRequest) -> LLMRequest:
    """The request as `llm` can serve it.

    An LLM without function calling (`capabilities.tools` false) is never shown tools: with
    `tool_choice` "auto" or "none" it answers in text as if none were given; "required" or
    a named function cannot be honoured and raises `UnsupportedRequestError`.
    """
    if not request.tools or llm.capabilities.tools:
        return request
    if request.tool_choice not in ("auto", "none"):
        raise UnsupportedRequestError(
            f"the model {llm.name!r} does not support function calling "
            f"(tool_choice {request.tool_choice!r} needs it)"
        )
    return replace(request, tools=[], tool_choice="none")
