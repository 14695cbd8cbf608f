"""SessionRunner with fake engines: streaming, cancellation, failures, expiry, back-pressure."""

from __future__ import annotations

import asyncio
import json

import pytest

from realtime2.engine.interfaces import (
    EngineUnavailableError,
    LLMRequest,
    Priority,
    ToolCallDelta,
)
from realtime2.realtime.runner import SessionRunner
from tests.support.clock import FakeClock
from tests.support.fakes import FakeLLM, FakeSTT, FakeTTS, b64, fake_engines, silence, tone
from tests.support.runner import Client


async def speak_turn(client: Client) -> None:
    for chunk in (silence(100), tone(500), silence(700)):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})


async def test_voice_turn_streams_audio_and_finishes() -> None:
    tts = FakeTTS()
    runner = SessionRunner(fake_engines(tts=tts))
    runner.start()
    client = Client(runner)
    await speak_turn(client)
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    types = client.types()
    assert types.index("response.output_audio.delta") < types.index("response.done")
    transcript = client.events[types.index("response.output_audio_transcript.done")]
    assert transcript["transcript"] == "Hi there. How can I help?"
    # First sentence jumps the queue. So does the second here: FakeTTS voices 50 ms a
    # sentence, so the reply is about to run dry (`engine.pacing.DRY_SECONDS`).
    assert [c[2] for c in tts.calls] == [Priority.FIRST_AUDIO, Priority.FIRST_AUDIO]
    assert len(runner.turn_timings) == 1 and runner.turn_timings[0].seconds >= 0
    await runner.close()


async def test_text_modality_streams_text_deltas() -> None:
    tts = FakeTTS()
    runner = SessionRunner(fake_engines(tts=tts))
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None}},
            },
        }
    )
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi"}],
            },
        }
    )
    await client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    deltas = "".join(e["delta"] for e in client.events if e["type"] == "response.output_text.delta")
    assert deltas == "Hi there. How can I help?"
    assert done["response"]["output"][0]["content"][0]["text"] == deltas
    assert tts.calls == []
    await runner.close()


async def test_cancel_stops_engine_work_and_no_audio_follows() -> None:
    llm = FakeLLM(script=["One. "] * 50, delay=0.01)
    tts = FakeTTS(delay=0.01)
    runner = SessionRunner(fake_engines(llm=llm, tts=tts))
    runner.start()
    client = Client(runner)
    await client.send({"type": "response.create"})
    await client.wait_for("response.output_audio.delta")
    await client.send({"type": "response.cancel"})
    done = await client.wait_for("response.done")
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    await asyncio.sleep(0.1)
    after = client.types()[client.types().index("response.done") + 1 :]
    assert "response.output_audio.delta" not in after
    assert llm.running == 0 and tts.running == 0
    assert not runner._responses
    await runner.close()


async def test_close_leaves_no_task_running() -> None:
    llm = FakeLLM(script=["Word "] * 1000, delay=0.01)
    stt = FakeSTT(delay=10)
    runner = SessionRunner(fake_engines(llm=llm, stt=stt))
    runner.start()
    client = Client(runner)
    await client.send({"type": "response.create"})
    await speak_turn(client)  # barge-in, then a long transcription
    await client.wait_for("input_audio_buffer.committed")
    await asyncio.sleep(0.05)
    await runner.close()
    await asyncio.sleep(0)
    assert not runner._tasks
    assert runner._timer is not None and runner._timer.done()
    assert llm.running == 0
    assert runner.closed.is_set()


async def test_engine_failure_fails_the_response_and_session_lives_on() -> None:
    class BrokenLLM(FakeLLM):
        async def stream(self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE):  # type: ignore[override]
            raise EngineUnavailableError("down", code="upstream_unavailable")
            yield  # pragma: no cover

    runner = SessionRunner(fake_engines(llm=BrokenLLM()))
    runner.start()
    client = Client(runner)
    await client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "failed"
    assert done["response"]["status_details"]["error"]["code"] == "upstream_unavailable"
    await client.send({"type": "conversation.item.retrieve", "item_id": "nope"})
    await client.wait_for("error")
    await runner.close()


async def test_function_call_round_trip() -> None:
    llm = FakeLLM(
        script=[
            ToolCallDelta("call_1", "get_weather", '{"city":'),
            ToolCallDelta("call_1", "", ' "Paris"}'),
        ]
    )
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "tools": [
                    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
                ],
            },
        }
    )
    await client.send({"type": "response.create"})
    args = await client.wait_for("response.function_call_arguments.done")
    assert args["arguments"] == '{"city": "Paris"}' and args["name"] == "get_weather"
    await client.wait_for("response.done")
    assert llm.requests[0].tools[0].name == "get_weather"
    llm.script = ["It is sunny."]
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": "call_1",
                "output": '{"sky":"clear"}',
            },
        }
    )
    await client.send({"type": "response.create"})
    await client.wait_for("response.done", 2)
    messages = llm.requests[1].messages
    assert messages[-2].tool_calls[0].arguments == '{"city": "Paris"}'
    assert messages[-1].role == "tool" and messages[-1].tool_call_id == "call_1"
    await runner.close()


async def test_session_expiry_closes_runner() -> None:
    clock = FakeClock()
    runner = SessionRunner(fake_engines(), clock=clock)
    runner.start()
    client = Client(runner)
    clock.advance(3601)
    runner.tick()
    await asyncio.wait_for(runner.closed.wait(), 2)
    error = await client.wait_for("error")
    assert error["error"]["code"] == "session_expired"
    await runner.close()


async def test_slow_client_applies_back_pressure() -> None:
    llm = FakeLLM(script=["Sentence. "] * 40)
    tts = FakeTTS()
    runner = SessionRunner(fake_engines(llm=llm, tts=tts), max_queued_events=20)
    runner.start()
    await runner.feed_text(json.dumps({"type": "response.create"}))
    await asyncio.sleep(0.2)
    # Nobody reads: synthesis stalls near the limit instead of queueing everything.
    assert runner._out.qsize() < 40
    assert len(tts.calls) < 40
    events = []
    async for event in runner.events():
        events.append(event["type"])
        if event["type"] == "response.done":
            break
    assert len(tts.calls) == 40
    await runner.close()


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
async def test_g711_output_format(fmt: str) -> None:
    runner = SessionRunner(fake_engines())
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"format": {"type": fmt}}}},
        }
    )
    await client.send({"type": "response.create"})
    await client.wait_for("response.done")
    import base64

    audio = b"".join(
        base64.b64decode(e["delta"])
        for e in client.events
        if e["type"] == "response.output_audio.delta"
    )
    # Fake TTS speaks 100 ms per sentence, two sentences: ~200 ms at 8 kHz, 1 byte/sample.
    assert abs(len(audio) - 1600) < 200
    await runner.close()
