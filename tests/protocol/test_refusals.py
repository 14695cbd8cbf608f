"""Fields the server cannot honour are refused by name; the ones it can, take effect.

Each test sends a field as a client would and checks either its effect on what the session
asks of the engines (commands), or an `error` event naming the field with the session left
as it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from realtime2.engine.interfaces import TokenUsage
from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness


def _update(h: Harness, session: dict[str, Any]) -> list[dict[str, Any]]:
    return h.send({"type": "session.update", "session": {"type": "realtime", **session}})


def _error(events: list[dict[str, Any]]) -> dict[str, Any]:
    (error,) = [e for e in events if e["type"] == "error"]
    return dict(error["error"])


def _transcription(h: Harness, **fields: Any) -> list[dict[str, Any]]:
    return _update(
        h,
        {
            "audio": {
                "input": {
                    "turn_detection": None,
                    "transcription": {"model": "whisper-1", **fields},
                }
            }
        },
    )


def _commit_turn(h: Harness) -> cmd.TranscribeTurn:
    for chunk in (silence(100), tone(400), silence(100)):
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    h.send({"type": "input_audio_buffer.commit"})
    (turn,) = h.take(cmd.TranscribeTurn)
    return turn


# --- voices ---------------------------------------------------------------------------


@pytest.mark.parametrize("voice", ["alloy", "echo", "shimmer", "ballad", "nova", "klingon"])
def test_unknown_voices_are_refused_as_unsupported_voice(voice: str) -> None:
    h = Harness()
    error = _error(_update(h, {"audio": {"output": {"voice": voice}}}))
    assert error["code"] == "unsupported_voice"
    assert error["param"] == "session.audio.output.voice" and "marin" in error["message"]
    assert h.session.settings.voice.engine_voice == "marin"  # unchanged
    error = _error(
        h.send({"type": "response.create", "response": {"audio": {"output": {"voice": voice}}}})
    )
    assert error["code"] == "unsupported_voice"
    assert error["param"] == "response.audio.output.voice"
    assert h.take(cmd.StartResponse) == []


@pytest.mark.parametrize("voice", ["marin", "cedar", "coral", "sage", "ash", "verse"])
def test_the_six_voices_are_spoken_as_themselves(voice: str) -> None:
    h = Harness()
    _update(h, {"audio": {"output": {"voice": voice}}})
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.voice == voice


# --- stored prompts -------------------------------------------------------------------


def test_a_stored_prompt_reference_is_refused_by_name() -> None:
    h = Harness()
    error = _error(_update(h, {"prompt": {"id": "pmpt_123"}}))
    assert (error["code"], error["param"]) == ("unsupported_parameter", "session.prompt")
    assert h.session.settings.data["prompt"] is None
    assert _update(h, {"prompt": None})[0]["type"] == "session.updated"  # null is fine
    error = _error(h.send({"type": "response.create", "response": {"prompt": {"id": "pmpt_1"}}}))
    assert (error["code"], error["param"]) == ("unsupported_parameter", "response.prompt")


# --- parallel tool calls --------------------------------------------------------------


def test_parallel_tool_calls_reaches_the_llm_request() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.parallel_tool_calls is None  # the LLM's default
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    _update(h, {"parallel_tool_calls": False})
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.parallel_tool_calls is False
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.send({"type": "response.create", "response": {"parallel_tool_calls": True}})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.parallel_tool_calls is True


# --- transcription --------------------------------------------------------------------


def test_transcription_keywords_and_one_language_reach_the_stt() -> None:
    h = Harness()
    _transcription(h, prompt="A call about shipping.", keywords=["Zyxel", "Kubernetes"])
    turn = _commit_turn(h)
    assert turn.prompt == "A call about shipping. Zyxel, Kubernetes."
    h = Harness()
    _transcription(h, languages=["fr"])
    assert _commit_turn(h).language == "fr"


def test_transcription_fields_the_stt_cannot_honour_are_refused() -> None:
    h = Harness()
    error = _error(_transcription(h, languages=["en", "fr"]))
    assert error["code"] == "unsupported_parameter"
    assert error["param"] == "session.audio.input.transcription.languages"
    error = _error(_transcription(h, language="en", languages=["fr"]))
    assert error["param"] == "session.audio.input.transcription.languages"
    error = _error(_transcription(h, model="gpt-4o-transcribe-diarize"))
    assert error["code"] == "unsupported_model"
    assert error["param"] == "session.audio.input.transcription.model"
    assert h.session.settings.transcription is None  # every refusal left it unchanged


def test_transcription_sessions_refuse_the_same_fields() -> None:
    h = Harness(kind="transcription")
    events = h.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {"transcription": {"model": "whisper-1", "languages": ["en", "fr"]}}
                },
            },
        }
    )
    assert _error(events)["param"] == "session.audio.input.transcription.languages"
