from __future__ import annotations

import asyncio
import concurrent.futures
import json
import secrets
import time

import pytest

from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.backends.local.shared_context import PROMPT_CHUNK_TOKENS, WARM_CHUNK_TOKENS
from realtime2.engine.interfaces import (
    LLM,
    ChatMessage,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    PromptWarming,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Urgency,
)
from realtime2.engine.scheduler import CpuGate, ModelWorker

pytestmark = pytest.mark.models

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city.",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city", "unit"],
    },
)
TIMER = ToolSpec(
    "set_timer",
    "Set a countdown timer.",
    {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
)


async def run(llm: LLM, request: LLMRequest) -> list[LLMEvent]:
    return [event async for event in llm.stream(request)]


def text_of(events: list[LLMEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def done_of(events: list[LLMEvent]) -> LLMDone:
    dones = [e for e in events if isinstance(e, LLMDone)]
    assert len(dones) == 1 and events[-1] is dones[0]
    return dones[0]


def greedy(*messages: ChatMessage, **kwargs: object) -> LLMRequest:
    return LLMRequest(list(messages), temperature=0.0, **kwargs)  # type: ignore[arg-type]


async def test_streams_text_deltas_then_done(llm: LLM) -> None:
    # Without a system prompt the 135M model's greedy answer depends on the CPU's kernels
    # (AVX-512 machines get "L'Étoile, la Cité…"); with this one it says Paris on both.
    brief = ChatMessage("system", "You are a helpful assistant. Answer in one short sentence.")
    events = await run(llm, greedy(brief, ChatMessage("user", "What is the capital of France?")))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 3
    assert "Paris" in text_of(events)
    done = done_of(events)
    assert done.finish_reason == "stop"
    assert done.usage.input_tokens > 5 and done.usage.output_tokens >= len(deltas)


async def test_system_prompt_is_followed(llm: LLM) -> None:
    events = await run(
        llm,
        greedy(
            ChatMessage("system", "Your name is Zorblax. You are a robot from Mars."),
            ChatMessage("user", "What is your name?"),
        ),
    )
    assert "Zorblax" in text_of(events)


async def test_history_is_used_and_prefix_cache_reused(llm: LLM) -> None:
    history = [ChatMessage("user", "My name is Alice.")]
    first = await run(llm, greedy(*history, max_tokens=20))
    followup = [
        *history,
        ChatMessage("assistant", "Nice to meet you, Alice!"),
        ChatMessage("user", "What is my name?"),
    ]
    second = await run(llm, greedy(*followup))
    assert "Alice" in text_of(second)
    usage = done_of(second).usage
    # The system prompt and first turn were already in the KV cache.
    assert usage.cached_tokens >= done_of(first).usage.input_tokens - 2


async def test_max_tokens_gives_length(llm: LLM) -> None:
    events = await run(
        llm, greedy(ChatMessage("user", "Write a long story about a dragon."), max_tokens=7)
    )
    done = done_of(events)
    assert done.finish_reason == "length" and done.usage.output_tokens == 7


@pytest.mark.parametrize("choice", ["set_timer", "required"])
async def test_forced_tool_call_is_valid(llm: LLM, choice: str) -> None:
    events = await run(
        llm,
        LLMRequest(
            [ChatMessage("user", "Set a timer for 5 minutes please.")],
            tools=[WEATHER, TIMER],
            tool_choice=choice,
        ),
    )
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert len(calls) == 1 and not text_of(events)
    call = calls[0]
    assert call.name in {"set_timer", "get_weather"}
    if choice == "set_timer":
        assert call.name == "set_timer"
    assert call.call_id.startswith("call_")
    args = json.loads(call.arguments_delta)
    schema = (TIMER if call.name == "set_timer" else WEATHER).parameters
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(args, schema)
    assert done_of(events).finish_reason == "tool_calls"


async def test_named_weather_call_matches_schema(llm: LLM) -> None:
    events = await run(
        llm,
        LLMRequest(
            [ChatMessage("user", "What's the weather in Tokyo in celsius?")],
            tools=[WEATHER, TIMER],
            tool_choice="get_weather",
        ),
    )
    call = next(e for e in events if isinstance(e, ToolCallDelta))
    args = json.loads(call.arguments_delta)
    assert call.name == "get_weather"
    assert isinstance(args["city"], str) and args["unit"] in ("celsius", "fahrenheit")
    assert set(args) <= {"city", "unit", "days"}


async def test_tool_choice_none_gives_text(llm: LLM) -> None:
    events = await run(
        llm,
        greedy(ChatMessage("user", "Say hello."), tools=[WEATHER], tool_choice="none"),
    )
    assert text_of(events) and not any(isinstance(e, ToolCallDelta) for e in events)
    assert done_of(events).finish_reason == "stop"


async def test_tool_choice_none_after_a_call_never_writes_one_as_text(llm: LLM) -> None:
    """The answer after a tool's result (an MCP call's next pass): a small model that saw
    the call would write another as JSON text, to be spoken; the grammar forbids it."""
    call = ToolCall("c1", "get_weather", '{"city": "Paris", "unit": "celsius"}')
    events = await run(
        llm,
        greedy(
            ChatMessage("user", "What is the weather in Paris?"),
            ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", '{"temperature": 21, "sky": "sunny"}', tool_call_id="c1"),
            tools=[WEATHER],
            tool_choice="none",
        ),
    )
    text = text_of(events)
    assert text and not text.lstrip().startswith("{"), text
    assert not any(isinstance(e, ToolCallDelta) for e in events)


async def test_auto_gives_text_or_a_valid_call(llm: LLM) -> None:
    for question in ("Hello! How are you today?", "What's the weather in Paris?"):
        events = await run(llm, LLMRequest([ChatMessage("user", question)], tools=[WEATHER]))
        calls = [e for e in events if isinstance(e, ToolCallDelta)]
        if calls:
            assert calls[0].name == "get_weather" and not text_of(events)
            json.loads(calls[0].arguments_delta)
        else:
            assert text_of(events).strip() and not text_of(events).startswith("{")


async def test_unknown_named_tool_rejected(llm: LLM) -> None:
    with pytest.raises(ValueError, match="not among the tools"):
        await run(llm, LLMRequest([ChatMessage("user", "hi")], tools=[WEATHER], tool_choice="nope"))


async def test_closing_the_stream_stops_generation(llm: LLM) -> None:
    request = greedy(ChatMessage("user", "Write a very long story about a dragon."), max_tokens=400)
    stream = llm.stream(request)
    got = 0
    async for event in stream:
        got += isinstance(event, TextDelta)
        if got == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    closed_at = time.perf_counter()
    # The model is free again within a step or two: a new request gets its first token fast.
    events = await run(llm, greedy(ChatMessage("user", "Hi"), max_tokens=1))
    assert done_of(events).usage.output_tokens == 1
    assert time.perf_counter() - closed_at < 5.0


async def test_cancelling_the_consumer_task_stops_generation(llm: LLM) -> None:
    seen: list[float] = []

    async def consume() -> None:
        request = greedy(ChatMessage("user", "Count from one to two hundred."), max_tokens=400)
        async for event in llm.stream(request):
            if isinstance(event, TextDelta):
                seen.append(time.perf_counter())

    task = asyncio.create_task(consume())
    while len(seen) < 3:  # noqa: ASYNC110 - polled state is set elsewhere
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(seen)
    await asyncio.sleep(0.3)
    assert len(seen) == count  # nothing more was produced for the cancelled consumer
    events = await run(llm, greedy(ChatMessage("user", "Hi"), max_tokens=1))
    assert done_of(events).usage.output_tokens == 1


async def test_concurrent_streams_do_not_mix(llm: LLM) -> None:
    dogs = greedy(ChatMessage("user", "Tell me about dogs."), max_tokens=40)
    sea = greedy(ChatMessage("user", "Write a poem about the sea."), max_tokens=40)
    a, b = await asyncio.gather(run(llm, dogs), run(llm, sea))
    text_a, text_b = text_of(a).lower(), text_of(b).lower()
    assert "dog" in text_a and "sea" not in text_a, text_a
    assert ("sea" in text_b or "ocean" in text_b or "wave" in text_b) and "dog" not in text_b, (
        text_b
    )
    assert done_of(a).usage.output_tokens > 10 and done_of(b).usage.output_tokens > 10


async def test_a_lowered_urgency_lets_waiting_work_overtake_at_once(llm: LLM) -> None:
    """A stream whose owner lowers its urgency yields to more urgent work at the next
    token; at equal priority it would hold the model for a whole slice (16+ tokens)."""

    async def tokens_before_other_work(lower: bool) -> int:
        urgency = Urgency(Priority.INTERACTIVE)
        # Counting runs long on every model (Qwen2.5-Coder declines a dragon story in 12 tokens).
        story = greedy(
            ChatMessage("user", "Count from 1 to 100, separated by commas."), max_tokens=120
        )
        produced = 0
        overtaken_at: list[int] = []
        started = asyncio.Event()

        async def long_reply() -> None:
            nonlocal produced
            async for event in llm.stream(story, priority=urgency):
                if isinstance(event, TextDelta):
                    produced += 1
                    if produced == 4:
                        if lower:
                            urgency.priority = Priority.BACKGROUND
                        started.set()

        async def short_reply() -> None:
            await started.wait()
            hi = greedy(ChatMessage("user", "Say hi."), max_tokens=3)
            async for event in llm.stream(hi, priority=Priority.INTERACTIVE):
                if isinstance(event, TextDelta) and not overtaken_at:
                    overtaken_at.append(produced)

        await asyncio.gather(long_reply(), short_reply())
        return overtaken_at[0] - 4

    assert await tokens_before_other_work(lower=True) <= 3
    # A slice is 16+ tokens; with Qwen2.5-0.5B on a busy machine the short reply has been
    # seen to overtake after 8-9 of the long reply's deltas (12 when run alone).
    assert await tokens_before_other_work(lower=False) >= 6


async def test_a_long_prompt_pauses_for_more_urgent_work(llm: LLM) -> None:
    """Evaluating a long prompt takes seconds here; it must not hold up a short reply."""
    essay = " ".join(f"Fact {n}: the number {n} comes after {n - 1}." for n in range(1, 60))
    long_request = greedy(ChatMessage("user", essay + " Summarise."), max_tokens=2)
    first_token_at: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def first_token(name: str, request: LLMRequest, priority: Priority) -> None:
        async for event in llm.stream(request, priority=priority):
            if isinstance(event, TextDelta) and name not in first_token_at:
                first_token_at[name] = loop.time()

    async def urgent_later() -> None:
        await asyncio.sleep(0.3)  # the long prompt is being evaluated by now
        hi = greedy(ChatMessage("user", "Say hi."), max_tokens=2)
        await first_token("short", hi, Priority.INTERACTIVE)

    await asyncio.gather(first_token("long", long_request, Priority.BACKGROUND), urgent_later())
    assert first_token_at["short"] < first_token_at["long"]


async def test_a_lone_generation_borrows_the_idle_core_and_gives_it_back(llm: LLM) -> None:
    """On an idle two-core gate the LLM decodes with two threads; a job that then waits for
    a core gets the borrowed one within a token, while the generation goes on."""

    llama_cpp = pytest.importorskip("llama_cpp")
    assert isinstance(llm, LlamaLLM)
    gate = CpuGate(2)
    worker, other = ModelWorker("llm-borrower", gate=gate), ModelWorker("other", gate=gate)
    # The fixture's model, driven through a worker on a gate of its own (one job at a time).
    borrower = LlamaLLM(llm._llama, name="borrower", worker=worker, borrow_idle_core=True)
    ctx = llm._llama._ctx.ctx
    request = greedy(
        ChatMessage("user", "Count from 1 to 100, separated by commas."), max_tokens=60
    )
    produced = 0
    threads_alone = cores_alone = 0
    job: concurrent.futures.Future[int] | None = None
    job_done_after: int | None = None
    async for event in borrower.stream(request):
        if not isinstance(event, TextDelta):
            continue
        produced += 1
        if produced == 4:
            threads_alone, cores_alone = llama_cpp.llama_n_threads(ctx), gate.busy_cores
            job = other.submit(lambda: gate.busy_cores, Priority.BACKGROUND)
        if job is not None and job.done() and job_done_after is None:
            job_done_after = produced - 4
    assert (threads_alone, cores_alone) == (2, 2)
    assert job is not None and job.result(timeout=5) == 2  # it ran beside the generation
    # Without giving the core back it would wait for the slice to end (16+ tokens).
    assert job_done_after is not None and job_done_after <= 6
    # The slice hands the core back as it ends, on the model's thread (maybe just after the
    # stream's last event reached us).
    deadline = time.monotonic() + 5
    while (llama_cpp.llama_n_threads(ctx), gate.busy_cores) != (1, 0):
        assert time.monotonic() < deadline, "the borrowed core was not given back"
        await asyncio.sleep(0.01)
    worker.close()
    other.close()


async def test_a_warmed_prompt_is_reused_by_the_request_that_extends_it(llm: LLM) -> None:
    """`warm` with the words heard so far: the reply to the whole turn then finds them in
    the KV cache and evaluates only the rest."""
    assert isinstance(llm, PromptWarming)

    def turn(nonce: str, words: str) -> LLMRequest:
        system = ChatMessage("system", f"You are a concise assistant, session {nonce}.")
        return greedy(system, ChatMessage("user", words), max_tokens=3)

    heard = "Please tell me which city is the capital of France and"
    whole = heard + " why it became the capital?"
    cold = done_of(await run(llm, turn(secrets.token_hex(4), whole))).usage.cached_tokens
    nonce = secrets.token_hex(4)
    await llm.warm(turn(nonce, heard))
    warmed = done_of(await run(llm, turn(nonce, whole))).usage.cached_tokens
    assert warmed >= cold + 10  # the session's system prompt and the heard words


async def test_a_warmed_prompt_is_evaluated_in_small_chunks(llm: LLM) -> None:
    """Warming is background work that a draft starting at the user's pause may have to wait
    for: it evaluates at most `WARM_CHUNK_TOKENS` at a time (a chunk cannot be stopped); a
    reply's own prompt goes in the larger `PROMPT_CHUNK_TOKENS`."""
    assert isinstance(llm, LlamaLLM)
    llama = llm._llama
    batches: list[int] = []
    plain_eval = llama.eval

    def counted(tokens: list[int]) -> None:
        batches.append(len(tokens))
        plain_eval(tokens)

    system = ChatMessage("system", f"You are a concise assistant, session {secrets.token_hex(4)}.")
    words = "Please tell me, in a few words, which of the rivers of Europe is the longest one "
    llama.eval = counted  # type: ignore[method-assign]
    try:
        await llm.warm(greedy(system, ChatMessage("user", words * 2), max_tokens=3))
        warm_batches, batches[:] = list(batches), []
        system = ChatMessage(
            "system", f"You are a concise assistant, session {secrets.token_hex(4)}."
        )
        await run(llm, greedy(system, ChatMessage("user", words * 2), max_tokens=3))
    finally:
        del llama.eval  # the instance attribute: back to the class's method
    assert sum(warm_batches) >= 40 and max(warm_batches) <= WARM_CHUNK_TOKENS, warm_batches
    assert max(batches) == PROMPT_CHUNK_TOKENS, batches
