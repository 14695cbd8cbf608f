"""`WarmPrompt` hints: evaluate the reply's prompt while the user is still talking.

With live transcription, the words two hypotheses agree on are final (every later decode,
the draft's included, continues them), so the automatic reply's prompt is known up to
them before the user pauses. An LLM that can (`engine.interfaces.PromptWarming`, llama.cpp)
evaluates it then, on a quiet machine only; at the pause the draft evaluates just the last
words. One hint at a time per session: a newer one replaces an older one still waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from realtime2.engine.interfaces import LLM, PromptWarming
from realtime2.protocol.commands import WarmPrompt

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class PromptWarmer:
    def __init__(self, llm: LLM, spawn: Spawn) -> None:
        self._llm = llm if isinstance(llm, PromptWarming) else None
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None

    def warm(self, command: WarmPrompt) -> None:
        if self._llm is None:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()  # still queued: never runs (a newer prompt supersedes it)
        self._task = self._spawn(self._run(self._llm, command))

    @staticmethod
    async def _run(llm: PromptWarming, command: WarmPrompt) -> None:
        try:
            await llm.warm(command.request)
        except Exception:  # a hint: failing costs only the head start
            log.warning("llm: warming a prompt failed", exc_info=True)
