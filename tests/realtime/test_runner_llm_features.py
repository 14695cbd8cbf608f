"""The runner lets images through only to an LLM that declares vision, and hands the
client's `reasoning.effort` to the LLM request (issue 23)."""

from __future__ import annotations

from realtime2.engine.interfaces import ImageInput, LLMCapabilities
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeLLM, fake_engines
from tests.support.images import PNG
from tests.support.runner import Client

IMAGE_ITEM = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_image", "image_url": PNG}],
    },
}


async def test_images_reach_a_vision_llm() -> None:
    llm = FakeLLM(
        capabilities=LLMCapabilities(streaming=True, tools=True, context_tokens=2048, vision=True)
    )
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    client = Client(runner)
    await client.send(IMAGE_ITEM)
    await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    await client.wait_for("response.done")
    assert llm.requests[-1].messages[-1].images == (ImageInput(PNG),)
    await runner.close()


async def test_images_are_refused_for_a_text_only_llm() -> None:
    runner = SessionRunner(fake_engines())
    runner.start()
    client = Client(runner)
    await client.send(IMAGE_ITEM)
    error = await client.wait_for("error")
    assert error["error"]["param"] == "item.content.0.image_url"
    await runner.close()


async def test_reasoning_effort_reaches_the_request() -> None:
    llm = FakeLLM()
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    client = Client(runner)
    update = {"type": "realtime", "reasoning": {"effort": "low"}, "output_modalities": ["text"]}
    await client.send({"type": "session.update", "session": update})
    await client.send({"type": "response.create"})
    await client.wait_for("response.done")
    assert llm.requests[-1].reasoning_effort == "low"
    await client.send({"type": "response.create", "response": {"reasoning": {"effort": "high"}}})
    await client.wait_for("response.done", count=2)
    assert llm.requests[-1].reasoning_effort == "high"
    await runner.close()
