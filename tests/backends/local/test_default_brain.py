"""The default brain, asked as a realtime session asks: its default instructions, its sampling."""

from __future__ import annotations

import pytest

from realtime2.engine.interfaces import LLM, ChatMessage, LLMRequest, TextDelta
from realtime2.protocol.session_config import DEFAULT_INSTRUCTIONS

pytestmark = pytest.mark.models


async def answer(llm: LLM, question: str) -> str:
    request = LLMRequest(
        [ChatMessage("system", DEFAULT_INSTRUCTIONS), ChatMessage("user", question)]
    )
    return "".join([e.text async for e in llm.stream(request) if isinstance(e, TextDelta)])


async def test_the_default_knows_the_capital_of_france(llm: LLM) -> None:
    # SmolLM2-135M, the old default, answered "La femme de France, le grand-fanté, …".
    assert "Paris" in await answer(llm, "What is the capital of France?")


async def test_the_default_multiplies(llm: LLM) -> None:
    assert "84" in await answer(llm, "What is 12 times 7?")
