"""Finding the span a trimmed conversation dropped from its cached prompt."""

from __future__ import annotations

import numpy as np

from realtime2.backends.local.context_shift import PROBE_TOKENS, find_dropped_span
from realtime2.backends.local.kv_snapshots import common_prefix


def ids(*ranges: tuple[int, int]) -> np.ndarray:
    return np.concatenate([np.arange(a, b, dtype=np.intc) for a, b in ranges])


def test_finds_the_dropped_messages_after_the_system_prompt() -> None:
    system, dropped, kept, new = (0, 20), (100, 160), (200, 300), (900, 920)
    cached = ids(system, dropped, kept)
    wanted = ids(system, kept, new)
    common = common_prefix(cached, wanted)
    span = find_dropped_span(cached, wanted, common)
    assert span is not None
    assert (span.start, span.end, span.kept) == (20, 80, 100)
    assert span.usable == 120  # system prompt + the kept turns; only `new` is evaluated


def test_another_conversation_has_no_span() -> None:
    cached = ids((0, 20), (100, 200))
    wanted = ids((0, 20), (500, 600))
    assert find_dropped_span(cached, wanted, 20) is None


def test_too_little_left_to_recognise() -> None:
    cached = ids((0, 20), (100, 200))
    wanted = ids((0, 20), (150, 150 + PROBE_TOKENS - 1))
    assert find_dropped_span(cached, wanted, 20) is None
