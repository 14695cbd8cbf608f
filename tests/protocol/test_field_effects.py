"""Effects of accepted fields that no other test pins down (see the field table in
`tests/protocol/test_field_coverage.py`)."""

from __future__ import annotations

import base64
from typing import Any

from realtime2.engine.interfaces import AudioChunk, TokenUsage
from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, pcm16, silence, tone
from tests.support.harness import Harness


def _turn_start(prefix_padding_ms: int | None) -> int:
    h = Harness()
    if prefix_padding_ms is not None:
        td = {"type": "server_vad", "prefix_padding_ms": prefix_padding_ms}
        h.send(
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": td}}},
            }
        )
    for chunk in (silence(1000), tone(600), silence(700)):
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    return int(h.of("input_audio_buffer.speech_started")[0]["audio_start_ms"])


def test_prefix_padding_reaches_back_before_speech() -> None:
    # Speech begins at 1000 ms (the VAD hears it within a 32 ms frame).
    default, short, long = _turn_start(None), _turn_start(100), _turn_start(800)
    assert 1000 - 300 - 40 <= default <= 1000 - 300 + 40
    assert 1000 - 100 - 40 <= short <= 1000 - 100 + 40
    assert 1000 - 800 - 40 <= long <= 1000 - 800 + 40


def test_client_item_status_and_object_are_the_servers() -> None:
    h = Harness()
    item: dict[str, Any] = {
        "id": "u1",
        "object": "realtime.item",
        "status": "incomplete",
        "type": "message",
        "role": "system",
        "content": [{"type": "input_text", "text": "Answer in French."}],
    }
    added = h.send({"type": "conversation.item.create", "item": item})[0]["item"]
    # A created item is complete whatever the client says; it is a realtime.item.
    assert (added["status"], added["object"], added["id"]) == ("completed", "realtime.item", "u1")
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    # A system item is an instruction the LLM sees as such.
    assert ("system", "Answer in French.") in [(m.role, m.content) for m in start.request.messages]


def test_response_tools_tool_choice_and_format_are_the_responses_own() -> None:
    h = Harness()
    tool = {"type": "function", "name": "lookup", "description": "Find it.", "parameters": {}}
    response = {
        "tools": [tool],
        "tool_choice": {"type": "function", "name": "lookup"},
        "audio": {"output": {"format": {"type": "audio/pcmu"}}},
    }
    h.send({"type": "response.create", "response": response})
    (start,) = h.take(cmd.StartResponse)
    assert [t.name for t in start.request.tools] == ["lookup"]
    assert start.request.tool_choice == "lookup"
    created = h.of("response.created")[0]["response"]
    assert created["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    h.session.on_response_sentence(start.response_id, "Hi.")
    h.session.on_response_audio(start.response_id, AudioChunk(pcm16(tone(500, 24000)), 24000))
    h.drain()
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    sent = sum(len(base64.b64decode(e["delta"])) for e in h.of("response.output_audio.delta"))
    assert abs(sent - 4000) <= 80  # 500 ms of 8 kHz μ-law, one byte a sample
    # The session's own tools stay as they were.
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tools == [] and start.request.tool_choice == "auto"


def test_an_assistant_items_transcript_is_what_the_llm_reads() -> None:
    h = Harness()
    item = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_audio", "transcript": "It is sunny."}],
    }
    h.send({"type": "conversation.item.create", "item": item})
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert ("assistant", "It is sunny.") in [(m.role, m.content) for m in start.request.messages]
