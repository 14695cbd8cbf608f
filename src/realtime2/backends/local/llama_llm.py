"""Chat completion with llama.cpp (llama-cpp-python), streamed one token per scheduler job.

One `Llama` object is shared by every session. Each generation keeps its own token list
and its own sampler (with its grammar state); before each step, the shared KV cache is
brought in line with that token list by keeping the longest common prefix and evaluating
only the rest. Uninterrupted, a step evaluates just the previous token; a new turn reuses
the cached system prompt and history; and when another session's work ran in between,
only the tokens after the shared prefix are evaluated again. Generation runs in slices
(see `_tokens`) so that switching between sessions, and its re-evaluation cost, happens
at most a few times per second rather than at every token.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from realtime2.backends.local.chat_prompt import render_prompt, to_template_messages
from realtime2.backends.local.context_window import retained_messages
from realtime2.backends.local.llama_cpu import ensure_cpu_backend
from realtime2.backends.local.models import require_module
from realtime2.backends.local.shared_context import WARM_CHUNK_TOKENS, Progress, SharedContext
from realtime2.backends.local.tool_grammar import PLAIN_TEXT, select_tools, tool_grammar
from realtime2.engine.interfaces import (
    ContextLengthExceededError,
    ContextTruncation,
    LLMCapabilities,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
    Urgency,
    priority_of,
)
from realtime2.engine.scheduler import ModelWorker, SpareCore, process_gate

log = logging.getLogger(__name__)

TOOL_CALL_MIN_TOKENS = 384  # a call's JSON must be allowed to finish
# Another job of equal priority waits at most this long for a generation to yield.
SLICE_SECONDS = 0.25
SLICE_MIN_TOKENS = 16  # …and a switch only after this many tokens, so re-evaluation stays rare
# A conversation too long for the context loses its oldest messages this many at a time.
DROP_BLOCK = 8


def _without_oldest(messages: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    """`messages` minus the first `count` that are not system messages."""
    kept: list[dict[str, str]] = []
    for message in messages:
        if count and message["role"] != "system":
            count -= 1
            continue
        kept.append(message)
    return kept


@dataclass
class _Generation:
    tokens: list[int]
    sampler: Any
    prompt_tokens: int
    cached_tokens: int = -1  # known after the first step
    generated: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress = field(default_factory=Progress)


class LlamaLLM:
    def __init__(
        self,
        llama: Any,
        *,
        name: str,
        default_max_tokens: int = 200,
        temperature: float = 0.3,
        worker: ModelWorker | None = None,
        prompt_cache_bytes: int = 0,
        threads: tuple[int, int] = (1, 1),
        borrow_idle_core: bool = False,
    ) -> None:
        self._llama = llama
        self._threads = threads  # (decode, prompt batch) on the job's own core
        self._borrow_idle_core = borrow_idle_core
        self._context = SharedContext(llama, prompt_cache_bytes)  # worker thread only
        self._worker = worker or ModelWorker("llm", gate=process_gate())
        self._default_max_tokens = default_max_tokens
        self._temperature = temperature
        self.name = name
        self.runtime: str | None = None  # which CPU kernels llama.cpp runs (set by `load`)
        self.capabilities = LLMCapabilities(
            streaming=True,
            tools=True,
            context_tokens=int(llama.n_ctx()),
            max_output_tokens=default_max_tokens,
        )
        metadata: dict[str, str] = getattr(llama, "metadata", {}) or {}
        self._template = metadata.get("tokenizer.chat_template")
        self._bos = self._piece(llama.token_bos())
        self._eos = self._piece(llama.token_eos())
        self._stop_ids = {int(llama.token_eos())} | self._special_ids("<|im_end|>", "<|endoftext|>")

    @classmethod
    def load(
        cls,
        model_path: Path,
        *,
        name: str,
        threads: int = 2,
        decode_threads: int = 1,
        context_tokens: int = 2048,
        default_max_tokens: int = 200,
        temperature: float = 0.3,
        prompt_cache_bytes: int = 0,
        borrow_idle_core: bool = True,
    ) -> LlamaLLM:
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        cpu = ensure_cpu_backend(model_path)  # before the first Llama: it picks the CPU kernels
        llama = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=context_tokens,
            # One token of a small model is too little work to split: with two threads the
            # per-token barrier costs more than it saves, badly so on a busy machine.
            n_threads=decode_threads,
            n_threads_batch=threads,
            n_batch=256,
            verbose=False,
        )
        # Warm up (first decode allocates compute buffers), then forget the tokens.
        llama.eval(llama.tokenize(b"Hello", add_bos=False))
        llama.n_tokens = 0
        llm = cls(
            llama,
            name=name,
            default_max_tokens=default_max_tokens,
            temperature=temperature,
            prompt_cache_bytes=prompt_cache_bytes,
            threads=(decode_threads, threads),
            borrow_idle_core=borrow_idle_core,
        )
        llm.runtime = f"llama.cpp CPU backend {cpu.variant or 'built in'} (AMX {cpu.amx})"
        return llm

    async def stream(
        self, request: LLMRequest, *, priority: Priority | Urgency = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        tools, allow_text, forced = select_tools(request.tools, request.tool_choice)
        use_tools = bool(tools)
        max_tokens = request.max_tokens or self._default_max_tokens
        temperature = self._temperature if request.temperature is None else request.temperature
        if use_tools:
            max_tokens = max(max_tokens, TOOL_CALL_MIN_TOKENS)
            temperature = min(temperature, 0.2)  # keep arguments close to the prompt's words
        grammar_text = tool_grammar(tools, allow_text=allow_text) if use_tools else None
        if request.tools and request.tool_choice == "none":
            grammar_text = PLAIN_TEXT
        gen = await self._worker.run(
            lambda: self._start(request, tools, forced, grammar_text, max_tokens, temperature),
            priority_of(priority),
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        call_text: list[str] | None = None  # set once the reply turns out to be a tool call
        first_piece = True
        finish = "length"
        try:
            async for token in self._tokens(gen, max_tokens, priority):
                if token in self._stop_ids:
                    finish = "stop"
                    break
                piece = decoder.decode(self._llama.detokenize([token]))
                if not piece:
                    continue
                if first_piece and use_tools and piece.startswith("{"):
                    call_text = []  # the grammar lets only a tool call start with "{"
                first_piece = False
                if call_text is not None:
                    call_text.append(piece)
                else:
                    yield TextDelta(piece)
        finally:
            gen.stop.set()  # a slice still running ends at its next token
        tail = decoder.decode(b"", final=True)
        if call_text is not None:
            call = self._parse_call("".join(call_text) + tail)
            if call is not None and finish == "stop":
                yield call
                finish = "tool_calls"
        elif tail:
            yield TextDelta(tail)
        yield LLMDone(finish_reason=finish, usage=self._usage(gen))  # type: ignore[arg-type]

    async def warm(self, request: LLMRequest) -> None:
        """Evaluate `request`'s prompt ahead of a reply that extends it (`PromptWarming`)."""
        await self._worker.run(lambda: self._warm(request), Priority.BACKGROUND)

    def _warm(self, request: LLMRequest) -> None:
        gate = self._worker.gate
        if gate is not None and (gate.busy_cores > 1 or gate.contended):
            return  # others are working: a hint is not worth their core
        tools, _, forced = select_tools(request.tools, request.tool_choice)
        max_tokens = request.max_tokens or self._default_max_tokens
        if tools:
            max_tokens = max(max_tokens, TOOL_CALL_MIN_TOKENS)  # as `stream` budgets it
        messages = to_template_messages(request.messages, tools, forced, bool(tools))
        tokens = self._prompt_tokens(messages, max_tokens, request.truncation)
        gen = _Generation(tokens=tokens, sampler=None, prompt_tokens=len(tokens))
        self._context.catch_up(
            gen,
            lambda: self._worker.most_urgent_waiting() is not None,
            chunk_tokens=WARM_CHUNK_TOKENS,
        )

    async def _tokens(
        self, gen: _Generation, max_tokens: int, priority: Priority | Urgency
    ) -> AsyncIterator[int]:
        """Sampled tokens, produced by successive slices on the worker thread.

        A slice streams its tokens through a queue as they are sampled, and ends when the
        reply ends, when a more urgent job waits, or after its time quantum if any other
        job waits. Then the next slice is queued like any other job.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[int | None] = asyncio.Queue()

        def emit(token: int | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, token)

        produced = 0
        while produced < max_tokens:
            work = functools.partial(self._slice, gen, max_tokens - produced, priority, emit)
            job = asyncio.ensure_future(self._worker.run(work, priority))
            try:
                while (token := await queue.get()) is not None:
                    produced += 1
                    yield token
                    if token in self._stop_ids:
                        return
                if not await job:  # also surfaces an exception raised inside the slice
                    return
            finally:
                if not job.done():
                    job.cancel()  # still queued: never runs; running: `stop` ends it

    def _slice(
        self,
        gen: _Generation,
        budget: int,
        priority: Priority | Urgency,
        emit: Callable[[int | None], None],
    ) -> bool:
        """Generate up to `budget` tokens, emitting each, then None.

        Returns True if it stopped only to let other work run (the reply goes on).
        """
        n_ctx = int(self._llama.n_ctx())
        spare = SpareCore(self._worker.gate if self._borrow_idle_core else None, self._set_threads)
        # Until the worker gives its core back (it clears this then), a `CpuGate.claim` may
        # wait for it: the slice ends at its next token for more urgent work.
        self._worker.yielding_to = priority
        try:
            # The quantum starts after the first token: catching the KV cache up after a
            # switch can itself take a while on a busy machine, and must not count.
            first_at = 0.0
            started = time.perf_counter()
            for produced in range(1, budget + 1):
                if gen.stop.is_set() or len(gen.tokens) >= n_ctx:
                    return False
                if produced > 1:
                    # Within a slice the context is this generation's alone: only the
                    # token just sampled is new to it.
                    spare.step()
                    self._llama.eval(gen.tokens[-1:])
                else:
                    done, cached = self._context.catch_up(
                        gen, lambda: self._should_yield(gen, priority, started), spare.step
                    )
                    if gen.cached_tokens < 0:
                        gen.cached_tokens = min(cached, gen.prompt_tokens)
                    if not done:
                        return self._paused(gen)  # a long prompt, paused for other work
                token = self._sample(gen)
                emit(token)
                if token in self._stop_ids:
                    return False
                first_at = first_at or time.perf_counter()
                waiting = self._worker.most_urgent_waiting()
                if waiting is None:
                    continue
                if waiting < priority_of(priority):  # re-read: the owner may lower it
                    return self._paused(gen)  # more urgent work: yield at once
                if produced >= SLICE_MIN_TOKENS and time.perf_counter() - first_at > SLICE_SECONDS:
                    return self._paused(gen)  # equal or lower priority: round robin by quantum
            return True
        finally:
            spare.release()
            emit(None)

    def _start(
        self,
        request: LLMRequest,
        tools: list[Any],
        forced: str | None,
        grammar_text: str | None,
        max_tokens: int,
        temperature: float,
    ) -> _Generation:
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        messages = to_template_messages(request.messages, tools, forced, bool(tools))
        tokens = self._prompt_tokens(messages, max_tokens, request.truncation)
        grammar = llama_cpp.LlamaGrammar.from_string(grammar_text) if grammar_text else None
        # `_init_sampler` builds the same chain `Llama.generate` uses, but gives us our own
        # instance so each generation keeps its own grammar state between steps.
        sampler = self._llama._init_sampler(
            top_k=40,
            top_p=0.95,
            min_p=0.05,
            temp=temperature,
            repeat_penalty=1.1,
            grammar=grammar,
        )
        return _Generation(tokens=tokens, sampler=sampler, prompt_tokens=len(tokens))

    def _prompt_tokens(
        self,
        messages: list[dict[str, str]],
        max_tokens: int,
        truncation: ContextTruncation,
    ) -> list[int]:
        """The rendered prompt, oldest turns dropped until it leaves room for the reply.

        Turns are dropped in blocks of `DROP_BLOCK` messages, counted from the start of the
        conversation: a long conversation's next few turns then drop the same messages and
        keep the same prompt prefix (cached), instead of each shifting it by one message
        and re-evaluating the whole history. `truncation` "disabled" drops nothing and
        raises `ContextLengthExceededError` instead; "retention_ratio" first cuts where
        `context_window.retained_start` says.
        """
        n_ctx = int(self._llama.n_ctx())
        budget = n_ctx - min(max_tokens, n_ctx // 2)
        if truncation.mode == "disabled":
            tokens = self._tokenize(render_prompt(self._template, messages, self._bos, self._eos))
            if len(tokens) > budget:
                raise ContextLengthExceededError(
                    f"The conversation needs {len(tokens)} tokens but the context leaves "
                    f"{budget} for it, and truncation is disabled."
                )
            return tokens
        if truncation.mode == "retention_ratio":
            system = [m for m in messages if m["role"] == "system"]
            rendered = render_prompt(self._template, system, "", "")
            messages = retained_messages(
                messages,
                budget - len(self._tokenize(rendered)),
                truncation,
                lambda text: len(self._tokenize(text)),
            )
        dropped = 0
        while True:
            kept = _without_oldest(messages, dropped)
            tokens = self._tokenize(render_prompt(self._template, kept, self._bos, self._eos))
            droppable = sum(1 for m in kept if m["role"] != "system")
            if len(tokens) <= budget or droppable <= 1:
                # A single message longer than the context keeps its end.
                return tokens[-budget:] if len(tokens) > budget else tokens
            dropped += min(DROP_BLOCK - dropped % DROP_BLOCK, droppable - 1)

    def _tokenize(self, text: str) -> list[int]:
        tokens: list[int] = self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return tokens

    def _paused(self, gen: _Generation) -> bool:
        """`gen` stops its slice to let other work run, and comes back (True for `_slice`)."""
        self._context.paused(gen)
        return True

    def _should_yield(self, gen: _Generation, priority: Priority | Urgency, started: float) -> bool:
        """While catching up a prompt: let more urgent work in at once, and equal work after
        a quantum, but only a few times per prompt (`shared_context.Progress`)."""
        waiting = self._worker.most_urgent_waiting()
        if waiting is None:
            return False
        mine = priority_of(priority)
        if waiting < mine:
            return True
        if waiting > mine or time.perf_counter() - started <= SLICE_SECONDS:
            return False
        return gen.progress.pause_for_equal()

    def _set_threads(self, extra_core: bool) -> None:
        """Threads for the next decodes: the job's own core, or one more it borrowed."""
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        decode, batch = self._threads
        more = int(extra_core)
        llama_cpp.llama_set_n_threads(self._llama._ctx.ctx, decode + more, batch + more)

    def _sample(self, gen: _Generation) -> int:
        token = int(gen.sampler.sample(self._llama._ctx, -1))
        gen.tokens.append(token)
        gen.generated.append(token)
        return token

    # --- helpers ----------------------------------------------------------------------

    def _parse_call(self, text: str) -> ToolCallDelta | None:
        try:
            payload = json.loads(text)
        except ValueError:
            log.warning("llm: constrained tool call did not parse (%d chars)", len(text))
            return None
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str):
            return None
        arguments = json.dumps(payload.get("arguments", {}), separators=(",", ":"))
        return ToolCallDelta(
            call_id=f"call_{uuid.uuid4().hex[:20]}", name=name, arguments_delta=arguments
        )

    def _usage(self, gen: _Generation) -> TokenUsage:
        return TokenUsage(
            input_tokens=gen.prompt_tokens,
            output_tokens=len(gen.generated),
            cached_tokens=max(gen.cached_tokens, 0),
        )

    def _piece(self, token: int) -> str:
        return bytes(self._llama.detokenize([token], special=True)).decode("utf-8", "replace")

    def _special_ids(self, *texts: str) -> set[int]:
        ids: set[int] = set()
        for text in texts:
            tokens = self._llama.tokenize(text.encode(), add_bos=False, special=True)
            if len(tokens) == 1:
                ids.add(int(tokens[0]))
        return ids

    def close(self) -> None:
        self._worker.close()
