"""Callers ask a backend's capability record, not a fixed list."""

from __future__ import annotations

from dataclasses import replace

import pytest

from realtime2.engine.capabilities import UnsupportedRequestError, offer_tools, speaks
from realtime2.engine.interfaces import ChatMessage, LLMRequest, ToolSpec
from tests.support.fakes import FakeLLM, FakeTTS


def request(tool_choice: str) -> LLMRequest:
    tool = ToolSpec("get_weather", "Weather for a city", {"type": "object", "properties": {}})
    return LLMRequest([ChatMessage("user", "hi")], tools=[tool], tool_choice=tool_choice)


def test_tools_reach_only_an_llm_that_calls_functions() -> None:
    capable = FakeLLM()
    assert capable.capabilities.tools and offer_tools(capable, request("auto")).tools
    textual = FakeLLM()
    textual.capabilities = replace(capable.capabilities, tools=False)
    plain = offer_tools(textual, request("auto"))
    assert plain.tools == [] and plain.tool_choice == "none"
    assert offer_tools(textual, request("none")).tools == []
    for choice in ("required", "get_weather"):
        with pytest.raises(UnsupportedRequestError, match="function calling"):
            offer_tools(textual, request(choice))


def test_voices_come_from_the_tts() -> None:
    tts = FakeTTS()
    assert speaks(tts, "marin") and not speaks(tts, "coral")  # FakeTTS offers two names
