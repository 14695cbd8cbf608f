"""Saved KV caches: found by shared prefix, bounded in memory; and, on the real model, a
conversation interrupted by another one resumes from its saved cache with the same words."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from realtime2.backends.local import llama_llm
from realtime2.backends.local.kv_snapshots import KvSnapshots, common_prefix
from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.backends.local.models import default_llm_gguf
from realtime2.backends.local.shared_context import SNAPSHOT_MIN_TOKENS, SharedContext
from realtime2.engine.interfaces import ChatMessage, LLMDone, LLMRequest, Priority, TextDelta


def toks(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.intc)


def test_common_prefix() -> None:
    assert common_prefix(toks(1, 2, 3), toks(1, 2, 4, 5)) == 2
    assert common_prefix(toks(1, 2), toks(1, 2, 3)) == 2
    assert common_prefix(toks(), toks(1)) == 0


def test_best_is_the_longest_shared_prefix() -> None:
    store = KvSnapshots(max_bytes=10_000)
    store.add(toks(1, 2, 3, 4), b"a" * 10)
    store.add(toks(7, 8, 9), b"b" * 10)
    snapshot, shared = store.best(toks(1, 2, 3, 9, 9))
    assert snapshot is not None and snapshot.state == b"a" * 10 and shared == 3
    assert store.best(toks(5, 5)) == (None, 0)
    assert store.holds(toks(7, 8, 9)) and not store.holds(toks(7, 8))


def test_memory_is_bounded_least_recently_used_first() -> None:
    store = KvSnapshots(max_bytes=3 * (100 + 40 * 4))
    for first in range(1, 5):  # four snapshots, room for three
        store.add(np.full(40, first, dtype=np.intc), bytes(100))
    assert len(store) == 3 and store.bytes <= store.max_bytes
    assert store.best(np.full(40, 1, dtype=np.intc)) == (None, 0)  # the oldest went
    store.best(np.full(40, 2, dtype=np.intc))  # used: now the most recent
    store.add(np.full(40, 9, dtype=np.intc), bytes(100))
    assert store.best(np.full(40, 2, dtype=np.intc))[1] == 40
    assert store.best(np.full(40, 3, dtype=np.intc)) == (None, 0)


def test_a_longer_conversation_supersedes_its_earlier_snapshot() -> None:
    store = KvSnapshots(max_bytes=100_000)
    turn_one = np.arange(100, dtype=np.intc)
    store.add(turn_one, bytes(10))
    turn_two = np.concatenate([turn_one[:90], np.arange(500, 600, dtype=np.intc)])
    store.add(turn_two, bytes(10))  # differs only in turn one's last 10 tokens
    assert len(store) == 1 and store.best(turn_one)[1] == 90
    store.add(np.arange(1000, 1050, dtype=np.intc), bytes(10))  # unrelated: kept beside it
    assert len(store) == 2


def test_a_snapshot_larger_than_the_budget_is_not_kept() -> None:
    store = KvSnapshots(max_bytes=50)
    store.add(toks(1, 2), bytes(100))
    assert len(store) == 0 and store.bytes == 0


@pytest.fixture(scope="module")
def cached_llm() -> Iterator[LlamaLLM]:
    llm = LlamaLLM.load(default_llm_gguf(), name="smollm2", threads=1, prompt_cache_bytes=64 << 20)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def plain_llm() -> Iterator[LlamaLLM]:
    llm = LlamaLLM.load(default_llm_gguf(), name="smollm2", threads=1, prompt_cache_bytes=0)
    yield llm
    llm.close()


SYSTEM_A = "You are Captain Nemo of the Nautilus. " * 12 + "Answer in one short sentence."
SYSTEM_B = "You are a cheerful baker in Vienna who loves cakes. " * 12 + "Be brief."


def request(system: str, question: str) -> LLMRequest:
    messages = [ChatMessage("system", system), ChatMessage("user", question)]
    return LLMRequest(messages, temperature=0.0, max_tokens=12)


async def reply(llm: LlamaLLM, req: LLMRequest) -> tuple[str, LLMDone]:
    events = [event async for event in llm.stream(req)]
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    done = events[-1]
    assert isinstance(done, LLMDone)
    return text, done


@pytest.mark.models
async def test_an_interrupted_conversation_resumes_from_its_snapshot(
    cached_llm: LlamaLLM, plain_llm: LlamaLLM
) -> None:
    first_a = request(SYSTEM_A, "Who are you?")
    first_b = request(SYSTEM_B, "What do you sell?")
    second_a = request(SYSTEM_A, "Where do you live?")
    for llm in (cached_llm, plain_llm):
        await reply(llm, first_a)
        await reply(llm, first_b)  # pushes conversation A out of the shared context
    cached_text, cached = await reply(cached_llm, second_a)
    plain_text, plain = await reply(plain_llm, second_a)
    # Without snapshots only the chat template's first tokens are still in the cache.
    assert plain.usage.cached_tokens < 10
    assert cached.usage.cached_tokens >= cached.usage.input_tokens - 16, cached.usage
    assert cached_text == plain_text  # restored state gives exactly the same greedy reply


SHARED_SYSTEM = "You are a helpful voice assistant. Keep answers short and friendly. " * 10


def long_question(topic: str) -> LLMRequest:
    """~190 tokens of their own after the shared instructions: six prompt chunks."""
    words = f"Tell me about the {topic}. " * 25 + f"What is the best thing about the {topic}?"
    messages = [ChatMessage("system", SHARED_SYSTEM), ChatMessage("user", words)]
    return LLMRequest(messages, temperature=0.0, max_tokens=8)


@pytest.mark.models
@pytest.mark.parametrize("which", ["cached", "plain"])
async def test_two_sessions_answered_at_once_both_finish_on_a_slow_cpu(
    which: str, cached_llm: LlamaLLM, plain_llm: LlamaLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first-audio replies with the same instructions take turns on the one context.
    On a slow CPU one 32-token prompt chunk outlasts the scheduler's quantum (a quantum of
    0 here), so each slice evaluated one chunk and yielded, and the other session's slice
    overwrote it: neither reply ever finished (four sessions stalled on Zen 2). Now a
    paused prompt's cache is saved before it is overwritten, and a prompt pauses for equal
    work only a few times, so both finish; with snapshots, nothing is evaluated twice."""
    llm = cached_llm if which == "cached" else plain_llm
    sea, hills = long_question("sea"), long_question("hills")
    alone = {name: (await reply(llm, r))[0] for name, r in (("sea", sea), ("hills", hills))}
    # Forget those runs' caches; only the instructions are cached, as after an earlier turn.
    monkeypatch.setattr(
        llm, "_context", SharedContext(llm._llama, llm._context.snapshots.max_bytes)
    )
    llm._llama.n_tokens = 0
    await llm.warm(LLMRequest([ChatMessage("system", SHARED_SYSTEM)]))
    evaluated: list[int] = []
    native_eval = llm._llama.eval

    def counted(tokens: list[int]) -> None:
        evaluated.append(len(tokens))
        native_eval(tokens)

    monkeypatch.setattr(llm._llama, "eval", counted)
    monkeypatch.setattr(llama_llm, "SLICE_SECONDS", 0.0)

    async def answer(r: LLMRequest) -> tuple[str, LLMDone]:
        events = [e async for e in llm.stream(r, priority=Priority.FIRST_AUDIO)]
        done = events[-1]
        assert isinstance(done, LLMDone)
        return "".join(e.text for e in events if isinstance(e, TextDelta)), done

    (sea_text, sea_done), (hills_text, hills_done) = await asyncio.wait_for(
        asyncio.gather(answer(sea), answer(hills)), timeout=120
    )
    assert (sea_text, hills_text) == (alone["sea"], alone["hills"])
    if which == "cached":
        instructions = len(llm._tokenize(SHARED_SYSTEM))
        own = sea_done.usage.input_tokens + hills_done.usage.input_tokens - 2 * instructions
        # Each switch may lose what a snapshot is not worth (under 32 tokens), no more.
        assert sum(evaluated) <= own + 2 * 8 + 2 * SNAPSHOT_MIN_TOKENS, evaluated
