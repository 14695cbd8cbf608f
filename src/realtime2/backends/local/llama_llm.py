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
import ctypes
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

import numpy as np

from realtime2.backends.local.chat_prompt import render_prompt, to_template_messages
from realtime2.backends.local.context_shift import DroppedSpan, find_dropped_span
from realtime2.backends.local.context_window import retained_messages
from realtime2.backends.local.kv_snapshots import KvSnapshots, Snapshot, Tokens, common_prefix
from realtime2.backends.local.llama_cpu import ensure_cpu_backend
from realtime2.backends.local.models import require_module
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
# Saving or restoring a KV cache is worth it from this many tokens (~7 ms each to evaluate).
SNAPSHOT_MIN_TOKENS = 32
# A prompt is evaluated in chunks of this many tokens (~0.2 s), pausable in between.
PROMPT_CHUNK_TOKENS = 32
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
        self._snapshots = KvSnapshots(prompt_cache_bytes)  # touched on the worker thread only
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
        self._catch_up(gen, lambda: self._worker.most_urgent_waiting() is not None)

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
            job = asyncio.ensure_future(self._worker.run(work, priority_of(priority)))
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
                elif not self._catch_up(
                    gen, lambda: self._should_yield(priority, started), spare.step
                ):
                    return True  # a long prompt, paused for more urgent work
                token = self._sample(gen)
                emit(token)
                if token in self._stop_ids:
                    return False
                first_at = first_at or time.perf_counter()
                waiting = self._worker.most_urgent_waiting()
                if waiting is None:
                    continue
                if waiting < priority_of(priority):  # re-read: the owner may lower it
                    return True  # more urgent work: yield at once
                if produced >= SLICE_MIN_TOKENS and time.perf_counter() - first_at > SLICE_SECONDS:
                    return True  # equal or lower priority: round robin by quantum
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

    def _should_yield(self, priority: Priority | Urgency, started: float) -> bool:
        """While catching up a prompt: let more urgent work in, or equal work after a quantum."""
        waiting = self._worker.most_urgent_waiting()
        if waiting is None:
            return False
        mine = priority_of(priority)
        return waiting < mine or (waiting == mine and time.perf_counter() - started > SLICE_SECONDS)

    def _set_threads(self, extra_core: bool) -> None:
        """Threads for the next decodes: the job's own core, or one more it borrowed."""
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        decode, batch = self._threads
        more = int(extra_core)
        llama_cpp.llama_set_n_threads(self._llama._ctx.ctx, decode + more, batch + more)

    def _catch_up(
        self,
        gen: _Generation,
        should_yield: Callable[[], bool],
        before_eval: Callable[[], None] = lambda: None,
    ) -> bool:
        """Bring the KV cache in line with `gen.tokens`, all but sampling the next token.

        A long prompt is evaluated in chunks, and between chunks `should_yield` may pause
        it (returns False): evaluating a few hundred tokens takes seconds on these CPUs, and
        another session's first audio must not wait for all of it. The part evaluated so far
        is kept like any other cache (saved as a snapshot if another generation needs the
        context), so the next slice goes on from there.
        """
        llama = self._llama
        tokens = gen.tokens
        wanted = np.asarray(tokens, dtype=np.intc)
        cached = np.asarray(llama.input_ids[: llama.n_tokens], dtype=np.intc)
        common = common_prefix(cached, wanted)
        if cached.size - common >= SNAPSHOT_MIN_TOKENS:
            span = find_dropped_span(cached, wanted, common)
            if span is not None and span.kept >= SNAPSHOT_MIN_TOKENS and self._drop_span(span):
                # The same conversation, trimmed to fit: its cache minus the dropped turns.
                cached = np.asarray(llama.input_ids[: llama.n_tokens], dtype=np.intc)
                common = span.usable
        if cached.size - common >= SNAPSHOT_MIN_TOKENS:
            if common < cached.size // 2:
                # About to overwrite another conversation's cache: keep it (its own next turn
                # shares most of it, so that is not worth a copy). See kv_snapshots.py.
                self._save_kv(cached)
            # And bring back this conversation's cache if it was kept earlier.
            snapshot, shared = self._snapshots.best(wanted)
            if snapshot is not None and shared > common + SNAPSHOT_MIN_TOKENS:
                common = self._restore_kv(snapshot, shared)
        if gen.cached_tokens < 0:
            gen.cached_tokens = min(common, gen.prompt_tokens)
        # Re-evaluate at least the last token: sampling needs its logits.
        common = min(common, len(tokens) - 1)
        llama.n_tokens = common  # `eval` drops the KV cache from here on
        while llama.n_tokens < len(tokens):
            if llama.n_tokens > common and should_yield():
                return False
            before_eval()
            llama.eval(tokens[llama.n_tokens : llama.n_tokens + PROMPT_CHUNK_TOKENS])
        return True

    def _sample(self, gen: _Generation) -> int:
        token = int(gen.sampler.sample(self._llama._ctx, -1))
        gen.tokens.append(token)
        gen.generated.append(token)
        return token

    def _drop_span(self, span: DroppedSpan) -> bool:
        """Delete `span` from the KV cache and move the tokens after it back (see
        context_shift.py). False when the model's cache cannot be shifted."""
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        llama = self._llama
        memory = llama_cpp.llama_get_memory(llama._ctx.ctx)
        if not llama_cpp.llama_memory_can_shift(memory):
            return False
        if not llama_cpp.llama_memory_seq_rm(memory, 0, span.start, span.end):
            return False
        llama_cpp.llama_memory_seq_add(memory, 0, span.end, -1, span.start - span.end)
        moved = np.array(llama.input_ids[span.end : span.end + span.kept], dtype=np.intc)
        llama.input_ids[span.start : span.usable] = moved
        llama.n_tokens = span.usable  # `eval` drops the stale rest from here on
        return True

    def _save_kv(self, tokens: Tokens) -> None:
        if self._snapshots.max_bytes <= 0 or self._snapshots.holds(tokens):
            return
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        ctx = self._llama._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        state = bytearray(size)
        view = (ctypes.c_uint8 * size).from_buffer(state)
        if int(llama_cpp.llama_state_seq_get_data(ctx, view, size, 0)) == size:
            self._snapshots.add(tokens, state)

    def _restore_kv(self, snapshot: Snapshot, shared: int) -> int:
        """Load `snapshot` into the context; returns how many of its tokens are usable."""
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        llama = self._llama
        view = (ctypes.c_uint8 * len(snapshot.state)).from_buffer(snapshot.state)
        if not llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, view, len(view), 0):
            llama.n_tokens = 0  # the cache is in an unknown state: evaluate from scratch
            return 0
        llama.input_ids[: snapshot.tokens.size] = snapshot.tokens
        llama.n_tokens = snapshot.tokens.size
        return shared

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
