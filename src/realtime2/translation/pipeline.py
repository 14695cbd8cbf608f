"""One phrase through the engines: speech -> source text -> translation -> target speech.

The LLM is asked for the translation only, with the previous phrases as context so a
sentence split across phrases reads on. Small local models still add chatter (a second
line, quotes, "Translation:"), so `TranslationFilter` keeps the first line of plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from realtime2.engine.interfaces import (
    ChatMessage,
    LLMRequest,
)

# Short on purpose: a small local model echoes long instructions back as its "answer".
SYSTEM_PROMPT = "Translate {source} to {target}. Reply with the {target} translation only."
MAX_TOKENS_FLOOR = 24
_LABEL = re.compile(r"^\s*(?:translation|traduction|übersetzung|traducción)\s*:\s*", re.I)
_QUOTES = "\"'“”«»「」"


def translation_request(
    text: str, *, source: str, target: str, history: Sequence[tuple[str, str]]
) -> LLMRequest:
    messages = [ChatMessage("system", SYSTEM_PROMPT.format(source=source, target=target))]
    for said, translated in history:
        messages += [ChatMessage("user", said), ChatMessage("assistant", translated)]
    messages.append(ChatMessage("user", text))
    # A translation is about as long as its source; the cap stops a runaway reply.
    budget = MAX_TOKENS_FLOOR + 3 * len(text.split())
    return LLMRequest(messages=messages, tool_choice="none", max_tokens=budget, temperature=0.1)


class TranslationFilter:
    """Streams the first line of the reply, without a leading label or quotes."""

    def __init__(self) -> None:
        self._head = ""  # text held back until we know it is not a label
        self._started = False
        self.done = False
        self.text = ""

    def feed(self, delta: str) -> str:
        if self.done:
            return ""
        if not self._started:
            self._head += delta
            stripped = _LABEL.sub("", self._head.lstrip()).lstrip(_QUOTES + " \n")
            # Wait for a few characters so a label ("Translation:") can be recognised.
            if len(stripped) < 12 and "\n" not in self._head.strip():
                return ""
            self._started = True
            delta = stripped
        if "\n" in delta and (self.text or delta.split("\n", 1)[0].strip()):
            delta = delta.split("\n", 1)[0]
            self.done = True
        self.text += delta
        return delta

    def finish(self) -> str:
        """End of the reply: release held-back text and drop a closing quote."""
        rest = ""
        if not self._started:
            rest = _LABEL.sub("", self._head.strip()).strip(_QUOTES + " ").split("\n")[0]
            self.text += rest
            self._started = True
        return rest

    @property
    def clean_text(self) -> str:
        return self.text.strip().strip(_QUOTES).strip()
