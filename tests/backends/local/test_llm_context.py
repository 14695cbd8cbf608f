"""A conversation longer than the context: the oldest turns go, the newest stay, and the
next turns reuse the cache (minus the dropped turns) instead of re-evaluating all history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.backends.local.models import default_llm_gguf
from realtime2.engine.interfaces import ChatMessage, LLMDone, LLMRequest

pytestmark = pytest.mark.models

FILLER = "I am telling you about my day in some detail so that this message is long. " * 3


@pytest.fixture(scope="module")
def small_llm() -> Iterator[LlamaLLM]:
    llm = LlamaLLM.load(default_llm_gguf(), name="smollm2", threads=1, context_tokens=512)
    yield llm
    llm.close()


def conversation(turns: int) -> list[ChatMessage]:
    messages = [ChatMessage("system", "You are brief.")]
    for n in range(turns):
        messages.append(ChatMessage("user", f"Turn {n}. {FILLER}"))
        messages.append(ChatMessage("assistant", f"Noted, turn {n}."))
    return messages


async def usage_of(llm: LlamaLLM, messages: list[ChatMessage]) -> LLMDone:
    request = LLMRequest(messages, temperature=0.0, max_tokens=4)
    events = [event async for event in llm.stream(request)]
    done = events[-1]
    assert isinstance(done, LLMDone)
    return done


async def test_long_conversations_keep_a_stable_cached_prefix(small_llm: LlamaLLM) -> None:
    cached = []
    for turns in range(12, 16):  # each ~60 tokens a turn: far beyond 512 - the reply budget
        history = [*conversation(turns), ChatMessage("user", "What turn is this?")]
        done = await usage_of(small_llm, history)
        assert done.usage.input_tokens <= 512 - 4
        cached.append(done.usage.cached_tokens / done.usage.input_tokens)
    # Each turn drops older messages than the last; the cache loses them (moving the rest
    # back) instead of evaluating the whole history again.
    assert all(share > 0.5 for share in cached[1:]), cached
