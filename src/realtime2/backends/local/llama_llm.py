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

import numpy as np

from realtime2.backends.local.chat_prompt import render_prompt, to_template_messages
from realtime2.backends.local.models import require_module
from realtime2.backends.local.tool_grammar import select_tools, tool_grammar
from realtime2.engine.interfaces import (
    LLMCapabilities,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
)
from realtime2.engine.scheduler import ModelWorker

log = logging.getLogger(__name__)

TOOL_CALL_MIN_TOKENS = 384  # a call's JSON must be allowed to finish
# Another job of equal priority waits at most this long for a generation to yield.
SLICE_SECONDS = 0.25
SLICE_MIN_TOKENS = 16  # …and a switch only after this many tokens, so re-evaluation stays rare


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
    ) -> None:
        self._llama = llama
        self._worker = worker or ModelWorker("llm")
        self._default_max_tokens = default_max_tokens
        self._temperature = temperature
        self.name = name
        self.capabilities = LLMCapabilities(
            streaming=True, tools=True, context_tokens=int(llama.n_ctx())
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
    ) -> LlamaLLM:
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
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
        return cls(llama, name=name, default_max_tokens=default_max_tokens, temperature=temperature)

    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        tools, allow_text, forced = select_tools(request.tools, request.tool_choice)
        use_tools = bool(tools)
        max_tokens = request.max_tokens or self._default_max_tokens
        temperature = self._temperature if request.temperature is None else request.temperature
        if use_tools:
            max_tokens = max(max_tokens, TOOL_CALL_MIN_TOKENS)
            temperature = min(temperature, 0.2)  # keep arguments close to the prompt's words
        grammar_text = tool_grammar(tools, allow_text=allow_text) if use_tools else None
        gen = await self._worker.run(
            lambda: self._start(request, tools, forced, grammar_text, max_tokens, temperature),
            priority,
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

    async def _tokens(
        self, gen: _Generation, max_tokens: int, priority: Priority
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
            work = functools.partial(self._slice, gen, max_tokens - produced, int(priority), emit)
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
        priority: int,
        emit: Callable[[int | None], None],
    ) -> bool:
        """Generate up to `budget` tokens, emitting each, then None.

        Returns True if it stopped only to let other work run (the reply goes on).
        """
        n_ctx = int(self._llama.n_ctx())
        try:
            # The quantum starts after the first token: catching the KV cache up after a
            # switch can itself take a while on a busy machine, and must not count.
            first_at = 0.0
            for produced in range(1, budget + 1):
                if gen.stop.is_set() or len(gen.tokens) >= n_ctx:
                    return False
                token = self._step(gen)
                emit(token)
                if token in self._stop_ids:
                    return False
                first_at = first_at or time.perf_counter()
                waiting = self._worker.most_urgent_waiting()
                if waiting is None:
                    continue
                if waiting < priority:
                    return True  # more urgent work: yield at once
                if produced >= SLICE_MIN_TOKENS and time.perf_counter() - first_at > SLICE_SECONDS:
                    return True  # equal or lower priority: round robin by quantum
            return True
        finally:
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
        tokens = self._prompt_tokens(messages, max_tokens)
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

    def _prompt_tokens(self, messages: list[dict[str, str]], max_tokens: int) -> list[int]:
        n_ctx = int(self._llama.n_ctx())
        budget = n_ctx - min(max_tokens, n_ctx // 2)
        while True:
            prompt = render_prompt(self._template, messages, self._bos, self._eos)
            tokens: list[int] = self._llama.tokenize(
                prompt.encode("utf-8"), add_bos=False, special=True
            )
            droppable = [i for i, m in enumerate(messages) if m["role"] != "system"]
            if len(tokens) <= budget or len(droppable) <= 1:
                # A single message longer than the context keeps its end.
                return tokens[-budget:] if len(tokens) > budget else tokens
            del messages[droppable[0]]  # forget the oldest turn first

    def _step(self, gen: _Generation) -> int:
        llama = self._llama
        tokens = gen.tokens
        cached = np.asarray(llama.input_ids[: llama.n_tokens])
        n = min(len(cached), len(tokens))
        mismatch = np.flatnonzero(cached[:n] != np.asarray(tokens[:n], dtype=cached.dtype))
        common = int(mismatch[0]) if mismatch.size else n
        if gen.cached_tokens < 0:
            gen.cached_tokens = min(common, gen.prompt_tokens)
        # Re-evaluate at least the last token: sampling needs its logits.
        common = min(common, len(tokens) - 1)
        llama.n_tokens = common  # `eval` drops the KV cache from here on
        llama.eval(tokens[common:])
        token = int(gen.sampler.sample(llama._ctx, -1))
        tokens.append(token)
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
