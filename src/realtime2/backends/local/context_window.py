"""Which turns of a long conversation the local LLM keeps, under a retention ratio.

OpenAI's `retention_ratio` truncation: when the turns after the instructions outgrow their
limit, the oldest are dropped until only a fraction of the limit is used, so the next
turns find the same start (and the cached prompt) until the limit is reached again.

The LLM gets the whole conversation with every request and keeps no state between them,
so the cut is found by replaying the conversation message by message: the start moves
only when the kept turns overflow the limit, exactly as it would have moved had each
message been a request. Every request of a growing conversation therefore finds the same
start until the next overflow.
"""

from __future__ import annotations

from collections.abc import Sequence


def retained_start(counts: Sequence[int], limit: int, ratio: float) -> int:
    """Index of the first message kept, given each message's token count.

    The newest message is always kept (an over-long one is cut by the caller).
    """
    start = 0
    total = 0
    for end, count in enumerate(counts):
        total += count
        if total > limit:
            target = ratio * limit
            while start < end and total > target:
                total -= counts[start]
                start += 1
    return start
