"""The session core, driven event by event with fakes and a fake clock."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest

from realtime2.audio import g711
from realtime2.engine.interfaces import AudioChunk, TokenUsage
from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, pcm16, silence, tone
from tests.support.harness import Harness


def _manual() -> Harness:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}
                },
            },
        }
    )
    return h


def _speak(h: Harness, speech_ms: int = 600, pause_ms: int = 700) -> None:
    for chunk in (silence(200), tone(speech_ms), silence(pause_ms)):
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})


def _reply(h: Harness, response_id: str, sentences: list[str], ms: int = 500) -> None:
    for sentence in sentences:
        h.session.on_response_sentence(response_id, sentence)
        h.session.on_response_audio(response_id, AudioChunk(pcm16(tone(ms, 22050)), 22050))
    h.drain()


def test_session_created_carries_the_full_session() -> None:
    h = Harness(model="gpt-realtime-2")
    (created,) = h.events
    session = created["session"]
    assert created["type"] == "session.created"
    assert session["type"] == "realtime" and session["model"] == "gpt-realtime-2"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["output_modalities"] == ["audio"]
    assert session["tool_choice"] == "auto" and session["max_output_tokens"] == "inf"
    assert session["id"].startswith("sess_")
    assert session["expires_at"] == 1_700_000_000 + 60 * 60  # the injected wall clock


def test_session_update_merges_nested_fields() -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 800}},
                    "output": {"format": {"type": "audio/pcmu"}, "voice": "cedar"},
                },
            },
        }
    )
    s = h.of("session.updated")[-1]["session"]
    assert s["instructions"] == "Be brief."
    td = s["audio"]["input"]["turn_detection"]
    assert td["silence_duration_ms"] == 800 and td["threshold"] == 0.5  # default kept
    assert s["audio"]["output"]["format"] == {"type": "audio/pcmu"}  # replaced, no stray rate
    assert s["audio"]["output"]["voice"] == "cedar"
    assert s["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}  # untouched
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
                },
            },
        }
    )
    td = h.of("session.updated")[-1]["session"]["audio"]["input"]["turn_detection"]
    assert td == {
        "type": "semantic_vad",
        "eagerness": "high",
        "create_response": True,
        "interrupt_response": True,
    }
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    assert h.of("session.updated")[-1]["session"]["audio"]["input"]["turn_detection"] is None


def test_voice_locks_after_audio() -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "ash"}}},
        }
    )
    assert h.session.settings.voice.engine_voice == "ash"
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert start.voice == "ash"
    _reply(h, start.response_id, ["Hello."])
    new = h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "cedar"}}},
        }
    )
    assert new[0]["error"]["code"] == "cannot_update_voice"


def test_server_vad_turn_cycle() -> None:
    h = Harness()
    _speak(h)
    types = h.types()
    started = h.of("input_audio_buffer.speech_started")[0]
    stopped = h.of("input_audio_buffer.speech_stopped")[0]
    committed = h.of("input_audio_buffer.committed")[0]
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    # Speech began at 200 ms; prefix padding (300 ms) reaches back to the session start.
    assert started["audio_start_ms"] == 0
    # Speech ended at 800 ms; the turn ends after 500 ms of silence (32 ms VAD frames).
    assert 800 + 500 <= stopped["audio_end_ms"] <= 800 + 500 + 64
    assert types.index("input_audio_buffer.committed") < types.index("response.created")
    (transcribe,) = h.take(cmd.TranscribeTurn)
    # The turn's audio: padding + speech + the silence window, at 16 kHz.
    assert abs(len(transcribe.audio) / 16 - stopped["audio_end_ms"]) < 40
    # The LLM waits for the transcript.
    assert h.take(cmd.StartResponse) == []
    h.session.on_transcript_done(transcribe.item_id, "What time is it?", 1.3)
    h.drain()
    (start,) = h.take(cmd.StartResponse)
    assert start.request.messages[-1].content == "What time is it?"
    # No transcription configured: the client sees no transcription events.
    assert not h.of("conversation.item.input_audio_transcription.completed")
    _reply(h, start.response_id, ["It is noon."])
    h.session.on_response_done(start.response_id, "stop", TokenUsage(20, 5, 8))
    h.drain()
    done = h.of("response.done")[0]["response"]
    assert done["status"] == "completed"
    assert done["usage"]["input_token_details"]["cached_tokens"] == 8
    assert done["usage"]["total_tokens"] == 25
    order: list[str] = []
    for kind in h.types():  # consecutive deltas collapsed
        if kind.startswith("response.") and (not order or order[-1] != kind):
            order.append(kind)
    assert order == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    assert h.session.turn_timings[0].response_id == start.response_id


def test_vad_idle_buffer_stays_bounded() -> None:
    h = Harness()
    for _ in range(50):
        h.send({"type": "input_audio_buffer.append", "audio": b64(silence(200))})
    assert h.session.input.buffered_ms <= 300 + 50
    assert not h.of("input_audio_buffer.speech_started")


def test_transcription_deltas_only_append() -> None:
    h = _manual()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(500))})
    h.send({"type": "input_audio_buffer.commit"})
    (t,) = h.take(cmd.TranscribeTurn)
    h.session.on_transcript_delta(t.item_id, "Hello")
    h.session.on_transcript_delta(t.item_id, " wor")
    h.session.on_transcript_done(t.item_id, "Hello world.", 0.5)
    h.drain()
    deltas = [e["delta"] for e in h.of("conversation.item.input_audio_transcription.delta")]
    assert deltas == ["Hello", " wor", "ld."]
    completed = h.of("conversation.item.input_audio_transcription.completed")[0]
    assert completed["transcript"] == "Hello world."
    assert completed["usage"] == {"type": "duration", "seconds": 0.5}
    retrieved = h.send({"type": "conversation.item.retrieve", "item_id": t.item_id})[0]
    assert retrieved["item"]["content"][0]["transcript"] == "Hello world."


def test_a_response_to_audio_that_could_not_be_transcribed_fails_naming_it() -> None:
    """The LLM hears the user through the transcript: without it the reply would answer
    the conversation before the turn, as if the user had said nothing."""
    h = _manual()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(500))})
    h.send({"type": "input_audio_buffer.commit"})
    h.send({"type": "response.create"})
    (t,) = h.take(cmd.TranscribeTurn)
    assert h.take(cmd.StartResponse) == []
    h.session.on_transcript_failed(t.item_id, "engine_unavailable", "down")
    h.drain()
    assert h.of("conversation.item.input_audio_transcription.failed")[0]["item_id"] == t.item_id
    assert h.take(cmd.StartResponse) == []
    (done,) = h.of("response.done")
    assert done["response"]["status"] == "failed"
    error = done["response"]["status_details"]["error"]
    assert error["type"] == "transcription_error" and error["code"] == "engine_unavailable"
    assert t.item_id in error["message"]
    # The session goes on: the next turn, transcribed, is answered.
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(500))})
    h.send({"type": "input_audio_buffer.commit"})
    h.send({"type": "response.create"})
    (again,) = h.take(cmd.TranscribeTurn)
    h.session.on_transcript_done(again.item_id, "Hello there.", 0.5)
    h.drain()
    assert len(h.take(cmd.StartResponse)) == 1


def test_manual_mode_commit_and_clear() -> None:
    h = _manual()
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(800))})
    h.send({"type": "input_audio_buffer.append", "audio": b64(silence(800))})
    assert not h.of("input_audio_buffer.speech_started")  # no VAD in manual mode
    h.send({"type": "input_audio_buffer.commit", "event_id": "c1"})
    committed = h.of("input_audio_buffer.committed")[0]
    assert committed["previous_item_id"] is None
    assert not h.of("response.created")  # manual mode never answers by itself
    (t,) = h.take(cmd.TranscribeTurn)
    assert abs(len(t.audio) - 16000 * 1.6) < 800
    h.send({"type": "input_audio_buffer.append", "audio": b64(tone(300))})
    assert h.send({"type": "input_audio_buffer.clear"})[0]["type"] == "input_audio_buffer.cleared"
    assert h.send({"type": "input_audio_buffer.commit"})[0]["error"]["code"] == (
        "input_audio_buffer_commit_empty"
    )


def test_clear_with_a_partial_vad_frame_keeps_the_vad_on_whole_frames() -> None:
    # 100 ms is 1600 samples at 16 kHz: three VAD frames and 64 samples the VAD has not
    # seen. Clearing drops those too; the VAD must go on from the cleared position with
    # whole frames (a real VAD raises on a short one), and still hear the next turn.
    h = Harness()
    h.send({"type": "input_audio_buffer.append", "audio": b64(silence(100))})
    h.send({"type": "input_audio_buffer.clear"})
    _speak(h)
    assert not h.of("error")
    assert h.of("input_audio_buffer.speech_started")
    assert h.of("input_audio_buffer.speech_stopped")


def test_items_create_retrieve_delete_with_placement() -> None:
    h = Harness()

    def create(item_id: str, previous: str | None = None) -> list[dict[str, Any]]:
        event: dict[str, Any] = {
            "type": "conversation.item.create",
            "item": {
                "id": item_id,
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": item_id}],
            },
        }
        if previous is not None:
            event["previous_item_id"] = previous
        return h.send(event)

    added = create("a")
    assert [e["type"] for e in added] == ["conversation.item.added", "conversation.item.done"]
    assert added[0]["previous_item_id"] is None
    assert create("b")[0]["previous_item_id"] == "a"
    assert create("c", "a")[0]["previous_item_id"] == "a"
    assert create("z", "root")[0]["previous_item_id"] is None
    assert [i["id"] for i in h.session.conversation.items] == ["z", "a", "c", "b"]
    item = h.send({"type": "conversation.item.retrieve", "item_id": "c"})[0]["item"]
    assert item["content"] == [{"type": "input_text", "text": "c"}]
    assert h.send({"type": "conversation.item.delete", "item_id": "c"})[0] == {
        **h.of("conversation.item.deleted")[0],
        "item_id": "c",
    }
    assert [i["id"] for i in h.session.conversation.items] == ["z", "a", "b"]
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    assert [m.content for m in start.request.messages[1:]] == ["z", "a", "b"]


def test_user_audio_item_is_transcribed() -> None:
    h = _manual()
    audio = base64.b64encode(pcm16(tone(400))).decode()
    h.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_audio", "audio": audio}],
            },
        }
    )
    (t,) = h.take(cmd.TranscribeTurn)
    assert abs(len(t.audio) - 6400) < 200  # 400 ms at 16 kHz
    assert "audio" not in h.of("conversation.item.added")[0]["item"]["content"][0]


def test_barge_in_cancels_with_turn_detected() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    _reply(h, start.response_id, ["One two three four."])
    _speak(h)
    cancelled = h.of("response.done")[0]["response"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert cancelled["output"][0]["status"] == "incomplete"
    assert h.take(cmd.CancelResponse)[0].response_id == start.response_id
    types = h.types()
    assert types.index("input_audio_buffer.speech_started") < types.index("response.done")
    # Late results of the cancelled response are dropped.
    before = len(h.events)
    _reply(h, start.response_id, ["Five."])
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    assert h.drain() == [] and len(h.events) == before


def test_no_interrupt_when_disabled() -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "server_vad",
                            "interrupt_response": False,
                            "create_response": False,
                        }
                    }
                },
            },
        }
    )
    h.send({"type": "response.create"})
    _speak(h)
    assert not h.of("response.done")
    assert len(h.of("response.created")) == 1


def test_client_cancel_and_truncate_cut_transcript() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    _reply(h, start.response_id, ["The first sentence.", "A second one here."], ms=1000)
    h.send({"type": "response.cancel", "event_id": "x"})
    done = h.of("response.done")[0]["response"]
    assert done["status_details"]["reason"] == "client_cancelled"
    item_id = done["output"][0]["id"]
    assert done["output"][0]["content"][0]["transcript"] == "The first sentence. A second one here."
    too_long = h.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 5000,
        }
    )
    assert too_long[0]["error"]["code"] == "invalid_value"
    truncated = h.send(
        {
            "type": "conversation.item.truncate",
            "item_id": item_id,
            "content_index": 0,
            "audio_end_ms": 1500,
        }
    )
    assert truncated[0]["type"] == "conversation.item.truncated"
    assert truncated[0]["audio_end_ms"] == 1500
    item = h.send({"type": "conversation.item.retrieve", "item_id": item_id})[0]["item"]
    assert item["content"][0]["transcript"] == "The first sentence. A second"
    h.send({"type": "response.create"})
    (nxt,) = h.take(cmd.StartResponse)
    assert nxt.request.messages[-1].content == "The first sentence. A second"


def test_text_only_response_and_out_of_band_response() -> None:
    h = Harness()
    h.send(
        {
            "type": "conversation.item.create",
            "item": {
                "id": "u",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    )
    h.send(
        {
            "type": "response.create",
            "response": {
                "output_modalities": ["text"],
                "instructions": "Summarise.",
                "conversation": "none",
                "metadata": {"topic": "x"},
                "max_output_tokens": 2,
                "input": [
                    {"type": "item_reference", "id": "u"},
                    {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "extra"}],
                    },
                ],
            },
        }
    )
    (start,) = h.take(cmd.StartResponse)
    assert start.modality == "text"
    assert [m.content for m in start.request.messages] == ["Summarise.", "hi", "extra"]
    # An out-of-band response does not block the default conversation.
    h.send({"type": "response.create"})
    assert len(h.take(cmd.StartResponse)) == 1
    h.session.on_response_text(start.response_id, "Short")
    h.session.on_response_text(start.response_id, " summary.")
    h.session.on_response_done(start.response_id, "length", TokenUsage(3, 2))
    h.drain()
    done = next(e for e in h.of("response.done") if e["response"]["id"] == start.response_id)
    assert done["response"]["status"] == "incomplete"
    assert done["response"]["status_details"]["reason"] == "max_output_tokens"
    assert done["response"]["conversation_id"] is None
    assert done["response"]["metadata"] == {"topic": "x"}
    assert h.of("response.output_text.done")[0]["text"] == "Short summary."
    assert [i["id"] for i in h.session.conversation.items] == ["u"]  # nothing added


def test_function_call_events() -> None:
    h = Harness()
    h.send(
        {
            "type": "response.create",
            "response": {
                "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
                "tool_choice": {"type": "function", "name": "lookup"},
            },
        }
    )
    (start,) = h.take(cmd.StartResponse)
    assert start.request.tool_choice == "lookup"
    assert start.request.tools[0].name == "lookup"
    h.session.on_response_tool_call(start.response_id, "call_9", "lookup", '{"q":')
    h.session.on_response_tool_call(start.response_id, "call_9", "", '"x"}')
    h.session.on_response_done(start.response_id, "tool_calls", TokenUsage(1, 1))
    h.drain()
    args = h.of("response.function_call_arguments.done")[0]
    assert (args["call_id"], args["name"], args["arguments"]) == ("call_9", "lookup", '{"q":"x"}')
    assert "".join(e["delta"] for e in h.of("response.function_call_arguments.delta")) == (
        '{"q":"x"}'
    )
    item = h.of("response.done")[0]["response"]["output"][0]
    assert item["type"] == "function_call" and item["status"] == "completed"
    assert h.session.conversation.items[-1]["call_id"] == "call_9"


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_input_drives_vad(fmt: str) -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"format": {"type": fmt}}}},
        }
    )
    encode = g711.pcm16_to_ulaw if fmt == "audio/pcmu" else g711.pcm16_to_alaw
    for chunk in (silence(200, 8000), tone(600, 8000), silence(700, 8000)):
        h.send(
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(encode(pcm16(chunk))).decode(),
            }
        )
    (stopped,) = h.of("input_audio_buffer.speech_stopped")
    (t,) = h.take(cmd.TranscribeTurn)
    assert t.sample_rate == 16000
    assert abs(len(t.audio) / 16 - stopped["audio_end_ms"]) < 40


def test_pcm_output_is_24khz() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    _reply(h, start.response_id, ["Hi."], ms=1000)
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    audio = b"".join(base64.b64decode(e["delta"]) for e in h.of("response.output_audio.delta"))
    assert abs(len(audio) / 2 - 24000) < 100
    x = np.frombuffer(audio, dtype="<i2")
    assert np.abs(x).max() > 5000  # the tone survived resampling


def test_semantic_vad_eagerness_and_completeness() -> None:
    def pause_needed(eagerness: str, partial: str | None) -> int:
        h = Harness()
        h.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "turn_detection": {"type": "semantic_vad", "eagerness": eagerness}
                        }
                    },
                },
            }
        )
        h.send({"type": "input_audio_buffer.append", "audio": b64(tone(600))})
        for step in range(200):
            h.send({"type": "input_audio_buffer.append", "audio": b64(silence(50))})
            partials = h.take(cmd.TranscribePartial)
            if partials and partial is not None:
                h.session.on_partial_transcript(partials[0].item_id, partial)
            if h.of("input_audio_buffer.speech_stopped"):
                return (step + 1) * 50
        raise AssertionError("turn never ended")

    complete = pause_needed("medium", "Can you book me a table for two?")
    trailing = pause_needed("medium", "Can you book me a table for two and")
    assert complete < 1000 < 3000 < trailing
    assert pause_needed("high", "Book a table for two.") < complete
    assert pause_needed("low", "Book a table for two.") > complete
    assert pause_needed("low", "So, um") <= 8000 + 100  # bounded by the documented maximum


def test_idle_timeout_triggers_a_response() -> None:
    h = Harness()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000}}
                },
            },
        }
    )
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    _reply(h, start.response_id, ["Are you there?"], ms=1000)
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    deadline = h.session.next_deadline()
    assert deadline is not None and deadline >= h.clock() + 6.0
    h.clock.advance(5.0)
    h.session.tick()
    assert not h.drain()
    h.clock.advance(2.5)
    h.session.tick()
    new = h.drain()
    assert new[0]["type"] == "input_audio_buffer.timeout_triggered"
    assert "response.created" in [e["type"] for e in new]


def test_transcription_session() -> None:
    h = Harness(kind="transcription")
    session = h.events[0]["session"]
    assert session["type"] == "transcription"
    assert session["audio"]["input"]["transcription"]["model"] == "gpt-realtime-whisper"
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {"transcription": {"model": "gpt-4o-transcribe", "language": "en"}}
                },
            },
        }
    )
    _speak(h)
    (t,) = h.take(cmd.TranscribeTurn)
    assert t.language == "en"
    h.session.on_transcript_done(t.item_id, "Hello.", 0.6)
    h.drain()
    assert h.of("conversation.item.input_audio_transcription.completed")
    assert not h.of("response.created") and not h.take(cmd.StartResponse)


def test_session_expires_after_60_minutes() -> None:
    h = Harness()
    h.clock.advance(59 * 60)
    h.session.tick()
    assert h.drain() == []
    h.clock.advance(61)
    h.send({"type": "response.create"})
    assert h.of("error")[-1]["error"]["code"] == "session_expired"
    assert h.take(cmd.CloseSession) == [cmd.CloseSession("expired")]
    assert h.session.closed
    assert h.send({"type": "response.create"}) == []


def test_rate_limits_are_reported_as_each_response_begins() -> None:
    h = Harness()
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    assert "rate_limits.updated" not in h.types()  # none known: none sent
    limits = [{"name": "requests", "limit": 100, "remaining": 99, "reset_seconds": 60.0}]
    h.session.set_rate_limits(limits)
    assert h.drain() == []
    h.send({"type": "response.create"})
    assert h.types()[-2:] == ["response.created", "rate_limits.updated"]
    assert h.of("rate_limits.updated")[0]["rate_limits"] == limits


def test_media_track_audio_goes_to_the_track() -> None:
    h = Harness(audio_out="media_track")
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    _reply(h, start.response_id, ["Hello."])
    assert not h.of("response.output_audio.delta")
    assert h.of("output_audio_buffer.started")
    assert sum(len(p.pcm) for p in h.take(cmd.PlayAudio)) > 0
    h.send({"type": "response.cancel"})
    assert h.of("output_audio_buffer.cleared")
    assert h.take(cmd.ClearAudio)
