"""OpenAI's `truncation` with the local LLM: `disabled` fails instead of dropping turns,
`retention_ratio` drops the oldest turns down to a fraction of the limit, once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realtime2.backends.local.context_window import retained_start
from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.backends.local.models import default_llm_gguf
from realtime2.engine.interfaces import (
    ChatMessage,
    ContextLengthExceededError,
    ContextTruncation,
    LLMDone,
    LLMRequest,
)

FILLER = "I am telling you about my day in some detail so that this message is long. " * 3


def test_the_start_moves_only_when_the_limit_is_crossed() -> None:
    counts = [10] * 20
    assert retained_start(counts[:10], limit=100, ratio=0.5) == 0  # 100 tokens: fits
    # The 11th message overflows: the oldest go until 50 tokens (5 messages) are left.
    assert retained_start(counts[:11], limit=100, ratio=0.5) == 6
    # Later turns keep that start until the kept turns overflow again.
    assert [retained_start(counts[:n], 100, 0.5) for n in range(11, 17)] == [6] * 6
    assert retained_start(counts[:17], 100, 0.5) == 12
    # Ratio 1.0 drops just enough, every time.
    assert retained_start(counts[:11], 100, 1.0) == 1
    # The newest message is kept however long it is.
    assert retained_start([10, 500], 100, 0.5) == 1


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
    return [*messages, ChatMessage("user", "What turn is this?")]


async def run(llm: LlamaLLM, turns: int, truncation: ContextTruncation) -> LLMDone:
    request = LLMRequest(conversation(turns), temperature=0.0, max_tokens=4, truncation=truncation)
    events = [event async for event in llm.stream(request)]
    done = events[-1]
    assert isinstance(done, LLMDone)
    return done


@pytest.mark.models
async def test_disabled_fails_a_conversation_that_no_longer_fits(small_llm: LlamaLLM) -> None:
    disabled = ContextTruncation("disabled")
    assert (await run(small_llm, 2, disabled)).usage.input_tokens > 100  # fits: all of it
    with pytest.raises(ContextLengthExceededError, match="truncation is disabled"):
        await run(small_llm, 12, disabled)
    # "auto" answers the same conversation by dropping its oldest turns.
    assert (await run(small_llm, 12, ContextTruncation())).usage.input_tokens <= 508


@pytest.mark.models
async def test_retention_ratio_cuts_to_the_ratio_and_keeps_the_start(
    small_llm: LlamaLLM,
) -> None:
    half = ContextTruncation("retention_ratio", retention_ratio=0.5, post_instructions_tokens=400)
    sizes = [(await run(small_llm, turns, half)).usage.input_tokens for turns in range(6, 12)]
    # Never more than the limit after the instructions (plus the instructions themselves).
    assert max(sizes) <= 400 + 40
    # A cut leaves about half the limit; the next turns grow from there (same start).
    cuts = [i for i in range(1, len(sizes)) if sizes[i] < sizes[i - 1]]
    assert cuts, sizes
    for i in cuts:
        assert sizes[i] <= 0.5 * 400 + 40 + 80, sizes  # half, instructions, the newest turn
        if i + 1 < len(sizes) and i + 1 not in cuts:
            assert sizes[i + 1] > sizes[i]
    # A lower post-instructions limit keeps less.
    small = ContextTruncation("retention_ratio", retention_ratio=1.0, post_instructions_tokens=150)
    assert (await run(small_llm, 11, small)).usage.input_tokens <= 150 + 40
