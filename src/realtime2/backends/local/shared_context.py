"""The one llama.cpp context that every generation shares, and switching it between them.

`LlamaLLM` keeps a single `Llama` (one KV cache) for all sessions. Before a generation's
step, `SharedContext.catch_up` brings the cache in line with that generation's tokens:
it keeps the longest common prefix, reuses a trimmed conversation's cache by moving it
(context_shift.py), saves a cache it is about to overwrite when someone will want it
again and restores a saved one (kv_snapshots.py), and evaluates the rest in chunks that
more urgent work may interrupt.

Progress across switches. Two generations that take turns on the context would each
overwrite the other's work: on a slow CPU, where one prompt chunk outlasts the scheduler's
quantum, each slice evaluated one chunk, yielded, and found its chunk gone on its return —
two sessions answering at once then never answered at all (seen on 2-core Zen 2 and Zen 3
VMs). So a generation that has paused registers here (`paused`) and its cache is saved
before anyone overwrites it, whatever the two conversations share; and `Progress` bounds
how often a prompt gives way to work no more urgent than itself, so it finishes even when
its cache cannot be kept (snapshots off, or too small to hold it).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from realtime2.backends.local.context_shift import DroppedSpan, find_dropped_span
from realtime2.backends.local.kv_snapshots import KvSnapshots, Snapshot, Tokens, common_prefix
from realtime2.backends.local.models import require_module

# Saving or restoring a KV cache is worth it from this many tokens (~7 ms each to evaluate).
SNAPSHOT_MIN_TOKENS = 32
# A prompt is evaluated in chunks of this many tokens (~0.2 s), pausable in between.
PROMPT_CHUNK_TOKENS = 32
# A prompt warmed ahead of a reply (`LlamaLLM.warm`, background work) in smaller ones: a
# chunk cannot be stopped, and a draft that starts at the user's pause waits for it. Here
# (Zen 4, one thread; 1, 5 and 13 tokens timed) a chunk costs ~14 ms plus ~8 ms a token, so
# by that fit 8 tokens take ~75 ms and 32 ~0.26 s.
WARM_CHUNK_TOKENS = 8
# A prompt gives way to work of its own priority at most this many times; then it finishes.
EQUAL_PAUSES = 2


class Resumable(Protocol):
    """A generation that may come back for the context: its tokens, and whether it ended."""

    tokens: list[int]
    stop: threading.Event


@dataclass
class Progress:
    """How often one generation's prompt has paused for work no more urgent than itself."""

    equal_pauses: int = 0

    def pause_for_equal(self) -> bool:
        """May it pause once more for equal work? (Counts the pause if so.)"""
        if self.equal_pauses >= EQUAL_PAUSES:
            return False
        self.equal_pauses += 1
        return True


class SharedContext:
    """The shared `Llama` context: its cache, the saved caches, the paused generations.

    Touched on the LLM's worker thread only.
    """

    def __init__(self, llama: Any, snapshot_bytes: int) -> None:
        self._llama = llama
        self.snapshots = KvSnapshots(snapshot_bytes)
        self._paused: list[Resumable] = []

    def paused(self, generation: Resumable) -> None:
        """`generation` stopped to let other work run and will be back for its cache."""
        if all(g is not generation for g in self._paused):
            self._paused.append(generation)

    def catch_up(
        self,
        generation: Resumable,
        should_yield: Callable[[], bool],
        before_eval: Callable[[], None] = lambda: None,
        chunk_tokens: int = PROMPT_CHUNK_TOKENS,
    ) -> tuple[bool, int]:
        """Bring the KV cache in line with `generation.tokens`, all but sampling the next
        token. Returns (done, tokens that were already cached).

        A long prompt is evaluated in chunks, and between chunks `should_yield` may pause
        it (done False): evaluating a few hundred tokens takes seconds on these CPUs, and
        another session's first audio must not wait for all of it. The part evaluated so
        far is kept like any other cache (saved before another generation overwrites it),
        so the next slice goes on from there.
        """
        self._paused = [g for g in self._paused if g is not generation and not g.stop.is_set()]
        llama = self._llama
        tokens = generation.tokens
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
            # About to overwrite another conversation's cache: keep it if a paused
            # generation comes back for it, or if it is mostly not what this one shares
            # (its own next turn would want it; the same conversation's next turn shares
            # most of it, and is not worth a copy). See kv_snapshots.py.
            if common < cached.size // 2 or self._wanted_back(cached, common):
                self._save(cached)
            # And bring back this conversation's cache if it was kept earlier.
            snapshot, shared = self.snapshots.best(wanted)
            if snapshot is not None and shared >= common + SNAPSHOT_MIN_TOKENS:
                common = self._restore(snapshot, shared)
        already_cached = common
        # Re-evaluate at least the last token: sampling needs its logits.
        common = min(common, len(tokens) - 1)
        llama.n_tokens = common  # `eval` drops the KV cache from here on
        while llama.n_tokens < len(tokens):
            if llama.n_tokens > common and should_yield():
                return False, already_cached
            before_eval()
            llama.eval(tokens[llama.n_tokens : llama.n_tokens + chunk_tokens])
        return True, already_cached

    def _wanted_back(self, cached: Tokens, common: int) -> bool:
        """Is `cached` (past `common`) the work of a paused generation?"""
        return any(
            common_prefix(cached, np.asarray(g.tokens, dtype=np.intc))
            >= common + SNAPSHOT_MIN_TOKENS
            for g in self._paused
        )

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

    def _save(self, tokens: Tokens) -> None:
        if self.snapshots.max_bytes <= 0 or self.snapshots.holds(tokens):
            return
        llama_cpp = require_module("llama_cpp", "llama-cpp-python")
        ctx = self._llama._ctx.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        state = bytearray(size)
        view = (ctypes.c_uint8 * size).from_buffer(state)
        if int(llama_cpp.llama_state_seq_get_data(ctx, view, size, 0)) == size:
            self.snapshots.add(tokens, state)

    def _restore(self, snapshot: Snapshot, shared: int) -> int:
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
