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

from collections.abc import Callable, Sequence

from realtime2.engine.interfaces import ContextTruncation

MESSAGE_OVERHEAD = 5  # tokens a chat template adds around one message's content


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


def retained_messages(
    messages: list[dict[str, str]],
    room: int,
    truncation: ContextTruncation,
    count_tokens: Callable[[str], int],
) -> list[dict[str, str]]:
    """The system messages and the turns a retention ratio keeps.

    `room`: tokens the context leaves the turns after the instructions (and the reply);
    `token_limits.post_instructions` may lower it.
    """
    system = [m for m in messages if m["role"] == "system"]
    turns = [m for m in messages if m["role"] != "system"]
    limit = room
    if truncation.post_instructions_tokens is not None:
        limit = min(limit, truncation.post_instructions_tokens)
    # A message's own tokens plus its template framing (role header, end marker).
    counts = [count_tokens(m["content"] or "") + MESSAGE_OVERHEAD for m in turns]
    start = retained_start(counts, max(limit, 1), truncation.retention_ratio)
    return system + turns[start:]
