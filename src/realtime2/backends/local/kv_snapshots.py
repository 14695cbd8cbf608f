"""Saved llama.cpp KV caches, found again by their longest common token prefix.

One llama.cpp context serves every session, so when two sessions take turns, each turn
finds the other conversation in the KV cache and would evaluate its whole prompt again:
on these CPUs ~7 ms a token, seconds for a conversation of a few hundred tokens. Copying a
sequence's KV cache out and back costs ~10 ms for 500 tokens (~23 kB a token for
SmolLM2-135M). So before a switch throws a conversation's cache away it is saved here, and
a generation whose prompt shares a longer prefix with a saved cache than with the live one
restores it first. Entries are keyed by content, not by session: whatever shares the prefix
(the same conversation's next turn, another session with the same instructions) benefits.

Memory is bounded: least recently used entries go once the total exceeds `max_bytes`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Tokens = npt.NDArray[np.intc]

# A new snapshot replaces an older one that it extends, give or take this many tokens at
# the old one's end (at most a tenth of it): a conversation's next turn re-tokenises the
# last reply, which can come out differently at its end.
SUPERSEDE_SLACK = 32


def common_prefix(a: Tokens, b: Tokens) -> int:
    n = min(a.size, b.size)
    mismatch = np.flatnonzero(a[:n] != b[:n])
    return int(mismatch[0]) if mismatch.size else n


@dataclass(frozen=True)
class Snapshot:
    tokens: Tokens  # what the saved cache holds, position 0 onwards
    # llama_state_seq_get_data of that sequence, written in place (tens of MB: no copies)
    state: bytearray

    @property
    def size(self) -> int:
        return len(self.state) + self.tokens.nbytes


class KvSnapshots:
    """An LRU store of snapshots, at most `max_bytes` in all."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, Snapshot] = OrderedDict()
        self._next_id = 0
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, tokens: Tokens) -> tuple[Snapshot | None, int]:
        """The snapshot sharing the longest prefix with `tokens`, and that length."""
        found: tuple[int, Snapshot] | None = None
        shared = 0
        for key, snapshot in self._entries.items():
            length = common_prefix(snapshot.tokens, tokens)
            if length > shared:
                found, shared = (key, snapshot), length
        if found is None:
            return None, 0
        self._entries.move_to_end(found[0])  # recently useful
        return found[1], shared

    def holds(self, tokens: Tokens) -> bool:
        """Is exactly this cache saved already?"""
        return any(np.array_equal(s.tokens, tokens) for s in self._entries.values())

    def add(self, tokens: Tokens, state: bytearray) -> None:
        snapshot = Snapshot(np.array(tokens, dtype=np.intc), state)
        if snapshot.size > self.max_bytes:
            return
        for key, old in list(self._entries.items()):
            slack = min(SUPERSEDE_SLACK, old.tokens.size // 10)
            if common_prefix(old.tokens, snapshot.tokens) >= old.tokens.size - slack:
                self._drop(key)
        self._entries[self._next_id] = snapshot
        self._next_id += 1
        self.bytes += snapshot.size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: int) -> None:
        self.bytes -= self._entries.pop(key).size
