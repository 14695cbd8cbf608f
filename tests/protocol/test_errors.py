"""Every malformed or refused client event yields one `error` and the session lives on."""

from __future__ import annotations

import base64
import json

import pytest

from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, tone
from tests.support.harness import Harness


def _error(h: Harness, event: dict[str, object] | str) -> dict[str, object]:
    new = h.send(event)
    assert [e["type"] for e in new] == ["error"], new
    error: dict[str, object] = new[0]["error"]
    return error


def _still_usable(h: Harness) -> None:
    new = h.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    assert [e["type"] for e in new] == ["session.updated"]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_json"),
        (json.dumps({"event_id": "e1"}), "missing_required_parameter"),
        (json.dumps({"type": "response.audio.delta"}), "invalid_value"),
        (json.dumps({"type": "input_audio_buffer.append", "audio": 5}), "invalid_value"),
        (json.dumps({"type": "input_audio_buffer.append"}), "missing_required_parameter"),
        (json.dumps({"type": "response.cancel", "bogus": 1}), "unknown_parameter"),
        (
            json.dumps(
                {
                    "type": "conversation.item.truncate",
                    "item_id": "a",
                    "content_index": 0,
                    "audio_end_ms": "10",
                }
            ),
            "invalid_value",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {
                            "input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}
                        },
                    },
                }
            ),
            "invalid_value",
        ),
        (
            json.dumps(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}},
                    },
                }
            ),
            "invalid_value",
        ),
    ],
)
def test_malformed_events(message: str, code: str) -> None:
    h = Harness()
    error = _error(h, message)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == code
    _still_usable(h)


def test_error_echoes_client_event_id_and_param() -> None:
    h = Harness()
    error = _error(h, {"type": "input_audio_buffer.append", "audio": 5, "event_id": "evt_42"})
    assert error["event_id"] == "evt_42"
    assert error["param"] == "audio"
    nested = _error(
        h,
        {
            "type": "session.update",
            "event_id": "e2",
            "session": {"type": "realtime", "audio": {"output": {"speed": "fast"}}},
        },
    )
    assert nested["param"] == "session.audio.output.speed" and nested["event_id"] == "e2"


def test_bad_base64() -> None:
    h = Harness()
    error = _error(h, {"type": "input_audio_buffer.append", "audio": "@@not base64@@"})
    assert error["code"] == "invalid_base64"
    _still_usable(h)


def test_append_over_15_mb_is_refused() -> None:
    h = Harness()
    big = base64.b64encode(b"\0" * (15 * 1024 * 1024 + 2)).decode()
    error = _error(h, {"type": "input_audio_buffer.append", "audio": big, "event_id": "big"})
    assert error["code"] == "input_audio_buffer_append_too_large"
    assert error["event_id"] == "big"
    assert h.session.input.buffered_ms == 0
    _still_usable(h)


def test_buffer_cap_is_15_minutes() -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    minute = base64.b64encode(b"\0" * 24000 * 2 * 60).decode()
    for _ in range(15):
        assert h.send({"type": "input_audio_buffer.append", "audio": minute}) == []
    error = _error(h, {"type": "input_audio_buffer.append", "audio": minute})
    assert error["code"] == "input_audio_buffer_full"
    assert 14.9 * 60_000 < h.session.input.buffered_ms <= 15 * 60_000
    assert [e["type"] for e in h.send({"type": "input_audio_buffer.clear"})] == [
        "input_audio_buffer.cleared"
    ]
    assert h.send({"type": "input_audio_buffer.append", "audio": minute}) == []


def test_commit_empty() -> None:
    h = Harness()
    assert _error(h, {"type": "input_audio_buffer.commit"})["code"] == (
        "input_audio_buffer_commit_empty"
    )
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(50))})
    assert _error(h, {"type": "input_audio_buffer.commit"})["code"] == (
        "input_audio_buffer_commit_empty"
    )


def test_cancel_not_active() -> None:
    h = Harness()
    assert _error(h, {"type": "response.cancel"})["code"] == "response_cancel_not_active"
    error = _error(h, {"type": "response.cancel", "response_id": "resp_x", "event_id": "c1"})
    assert error["code"] == "response_cancel_not_active" and error["event_id"] == "c1"


def test_double_response() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    error = _error(h, {"type": "response.create", "event_id": "r2"})
    assert error["code"] == "conversation_already_has_active_response"
    assert error["event_id"] == "r2"
    assert len(h.take(cmd.StartResponse)) == 1


def test_item_errors() -> None:
    h = Harness()
    assert _error(h, {"type": "conversation.item.retrieve", "item_id": "nope"})["code"] == (
        "item_not_found"
    )
    assert _error(h, {"type": "conversation.item.delete", "item_id": "nope"})["code"] == (
        "item_not_found"
    )
    assert (
        _error(
            h,
            {
                "type": "conversation.item.truncate",
                "item_id": "nope",
                "content_index": 0,
                "audio_end_ms": 0,
            },
        )["code"]
        == "item_not_found"
    )
    assert _error(
        h,
        {
            "type": "conversation.item.create",
            "previous_item_id": "nope",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "x"}],
            },
        },
    )["code"] == ("previous_item_not_found")
    h.send(
        {
            "type": "conversation.item.create",
            "item": {
                "id": "u1",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "x"}],
            },
        }
    )
    assert (
        _error(
            h,
            {
                "type": "conversation.item.create",
                "item": {
                    "id": "u1",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "y"}],
                },
            },
        )["code"]
        == "item_already_exists"
    )
    assert (
        _error(
            h,
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_audio", "audio": ""}],
                },
            },
        )["code"]
        == "invalid_value"
    )
    assert (
        _error(
            h,
            {
                "type": "conversation.item.truncate",
                "item_id": "u1",
                "content_index": 0,
                "audio_end_ms": 0,
            },
        )["code"]
        == "invalid_value"
    )


def test_output_audio_buffer_clear_is_webrtc_only() -> None:
    h = Harness()
    error = _error(h, {"type": "output_audio_buffer.clear", "event_id": "o1"})
    assert error["event_id"] == "o1"
    w = Harness(audio_out="media_track")
    assert w.send({"type": "output_audio_buffer.clear"}) == []


def test_session_update_refusals_change_nothing() -> None:
    h = Harness()
    before = h.session.settings.render()
    for session, code in [
        ({"type": "transcription"}, "invalid_value"),
        ({"type": "realtime", "model": "gpt-4o"}, "unsupported_model"),
        ({"type": "realtime", "audio": {"output": {"voice": "nonexistent"}}}, "unsupported_voice"),
        (
            {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o"}}}},
            "unsupported_model",
        ),
        ({"type": "realtime", "output_modalities": ["text", "audio"]}, "invalid_value"),
        ({"type": "realtime", "max_output_tokens": 5000}, "invalid_value"),
    ]:
        assert _error(h, {"type": "session.update", "session": session})["code"] == code, session
    assert h.session.settings.render() == before


def test_session_update_naming_another_tier_keeps_the_session_model() -> None:
    h = Harness()  # opened as gpt-realtime (pro); openai-agents names its default model
    h.send(
        {"type": "session.update", "session": {"type": "realtime", "model": "gpt-realtime-mini"}}
    )
    updated = h.of("session.updated")[-1]["session"]
    assert updated["model"] == h.events[0]["session"]["model"]
    assert not h.of("error")


def test_transcription_session_refuses_responses() -> None:
    h = Harness(kind="transcription")
    assert _error(h, {"type": "response.create"})["type"] == "invalid_request_error"
