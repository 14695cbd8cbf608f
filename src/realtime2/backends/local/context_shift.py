"""Finding the messages a trimmed conversation dropped from the middle of its cached prompt.

When a conversation outgrows the context, its oldest messages are dropped (see
`LlamaLLM._prompt_tokens`): the new prompt is the cached one minus a span right after the
system prompt. Evaluating the rest again costs ~7 ms a token here (~13 s for a full 2k
context); instead, llama.cpp can delete that span from the KV cache and move what follows
back (`llama_memory_seq_rm` + `llama_memory_seq_add`, which re-rotates the keys), and only
the new turn is evaluated. This module finds the span; the caller moves the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from realtime2.backends.local.kv_snapshots import Tokens, common_prefix

# Tokens of the new prompt, right after the shared prefix, that must be found in the cached
# one to recognise a dropped span (a message header and the first words of a message).
PROBE_TOKENS = 16


@dataclass(frozen=True)
class DroppedSpan:
    start: int  # cached[start:end] is what the new prompt no longer has
    end: int
    kept: int  # tokens from cached[end:] that the new prompt continues with

    @property
    def usable(self) -> int:
        """Cached tokens the new prompt can use once the span is gone."""
        return self.start + self.kept


def find_dropped_span(cached: Tokens, wanted: Tokens, common: int) -> DroppedSpan | None:
    """Where `wanted` continues `cached[:common]` from later in `cached`, if it does."""
    probe = wanted[common : common + PROBE_TOKENS]
    rest = cached[common + 1 :]
    if probe.size < PROBE_TOKENS or rest.size < PROBE_TOKENS:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(rest, PROBE_TOKENS)
    hits = np.flatnonzero((windows == probe).all(axis=1))
    if hits.size == 0:
        return None
    end = common + 1 + int(hits[0])
    kept = common_prefix(cached[end:], wanted[common:])
    return DroppedSpan(start=common, end=end, kept=kept)
