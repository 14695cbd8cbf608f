"""Incremental sentence chunking for LLM → TTS streaming.

Feed text deltas as the LLM produces them; complete sentences come out as soon as their
terminating punctuation is followed by whitespace (so "3.5" or "e.g." mid-token do not
split early). To get the first audio out fast, the first chunk of a reply may be a
clause: once it is long enough, a comma/semicolon/colon/dash followed by a space ends it.
Later chunks end at a clause too once they are long (`long_clause_chars`): each chunk is
one uninterruptible TTS job, and another session's first audio may wait for one. A first
chunk with no boundary at all is cut at a space after `first_max_chars`: synthesis takes
~0.08 s per second of speech here, and the listener is waiting for it.

The first chunk is short (a clause from 16 characters, at most ~32) because on two cores a
speculative draft must fit STT, the LLM's first chunk and its synthesis into the silence
window: on recorded human speech (bench.realtime_latency --speech human, AMD EPYC, load
~4.5) the stage breakdown gave STT 0.23 s, LLM to a 24–48-character first chunk 0.37 s and
its first audio 0.23 s, against ~0.44 s of window left after the pause is detected. Each
character less is LLM and TTS time saved before the first audio.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"[,;:—–]\s+|\s-\s+")
# Common abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "vs.", "etc.", "e.g.", "i.e."}
)


class SentenceChunker:
    """Turns a stream of text deltas into speakable chunks.

    `first_clause_min_chars`: the first chunk may end at a clause boundary once it has at
    least this many characters; `long_clause_chars`: so may any later chunk from this
    length. `first_max_chars` / `max_chars`: a first / later chunk with no boundary at all
    is cut at the last space before this length, so a run-on reply still streams.
    """

    def __init__(
        self,
        *,
        first_clause_min_chars: int = 16,
        first_max_chars: int = 32,
        long_clause_chars: int = 100,
        max_chars: int = 180,
    ) -> None:
        self._buffer = ""
        self._emitted_any = False
        self._first_clause_min = first_clause_min_chars
        self._first_max = first_max_chars
        self._long_clause = long_clause_chars
        self._max_chars = max_chars

    def feed(self, delta: str) -> list[str]:
        """Add a text delta; return the chunks it completed (possibly none)."""
        self._buffer += delta
        chunks: list[str] = []
        while (cut := self._find_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if chunk:
                chunks.append(chunk)
                self._emitted_any = True
        return chunks

    def flush(self) -> list[str]:
        """End of reply: return whatever text is left as a final chunk."""
        rest, self._buffer = self._buffer.strip(), ""
        self._emitted_any = False
        return [rest] if rest else []

    def _find_cut(self) -> int | None:
        text = self._buffer
        cuts = []
        for match in _SENTENCE_END.finditer(text):
            if not self._is_abbreviation(text, match.start()):
                cuts.append(match.end())
                break
        clause_min = self._long_clause if self._emitted_any else self._first_clause_min
        for match in _CLAUSE_END.finditer(text):
            if match.start() >= clause_min:
                cuts.append(match.end())
                break
        # Whichever comes first, as if the text arrived token by token.
        limit = self._max_chars if self._emitted_any else self._first_max
        if min(cuts, default=len(text)) > limit:
            space = text.rfind(" ", 0, limit)
            return space + 1 if space > 0 else limit
        return min(cuts) if cuts else None

    @staticmethod
    def _is_abbreviation(text: str, end_index: int) -> bool:
        if text[end_index] != ".":
            return False
        word_start = text.rfind(" ", 0, end_index) + 1
        word = text[word_start : end_index + 1].lower()
        return word in _ABBREVIATIONS or (len(word) == 2 and word[0].isalpha())
