"""Incremental sentence chunking for LLM → TTS streaming.

Feed text deltas as the LLM produces them; complete sentences come out as soon as their
terminating punctuation is followed by whitespace (so "3.5" or "e.g." mid-token do not
split early). To get the first audio out fast, the first chunk of a reply may be a
clause: once it is long enough, a comma/semicolon/colon/dash followed by a space ends it.
Later chunks end at a clause too once they are long (`long_clause_chars`): each chunk is
one uninterruptible TTS job, and another session's first audio may wait for one. A first
chunk with no boundary at all is cut at a space after `first_max_chars`: synthesis takes
~0.08 s per second of speech here, and the listener is waiting for it.

The first chunk is short because on two cores a speculative draft must fit STT, the LLM's
first chunk and its synthesis into the silence window: each character less is LLM and TTS
time saved before the first audio (synthesis costs ~0.05 s plus ~4.5 ms a character for the
default voice here). So besides a clause (from 8 characters) it may end at a *phrase break*:
before a function word ("of", "is", "in", "who", ...) that follows a content word, once it
has `first_phrase_min_chars`. That is the "chinks and chunks" rule of phrase-break
prediction in TTS (Liberman & Church, 1992): "You can ring | the console by dialing",
"The message should be saved | in the folder", "He was not a young man | who was ill", so
the seam falls where a speaker could pause. Pronoun and auxiliary contractions ("I'd",
"you're", "don't") count as function words, so "I'd | be happy" is no break, and a function
word that ends a phrase ("said so!") is not one either. The first phrase may be two words
("To save | the message", "This test | is most useful"): from 6 characters, which took 0.04 s
off the LLM's first chunk and 0.03 s off its synthesis against 12 (Zen 4, bench/README.md).
A first chunk with neither is cut at a space after `first_max_chars`, wherever that falls.
The limits then double with each chunk (phrase breaks from 12, 24, ... characters, cuts at
64, 128, ...) until they reach the later chunks' own: each chunk is synthesised while the
ones before it play, so a short first chunk must not be followed by a long sentence the
listener would wait for. Measured on recorded human speech (bench.realtime_latency --speech
human, AMD EPYC Zen 4 and Zen 5): see bench/README.md.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_CLAUSE_END = re.compile(r"[,;:—–]\s+|\s-\s+")
# Words that begin a phrase when they follow a content word ("chinks": articles,
# prepositions, conjunctions, auxiliaries, pronouns); see the module docstring.
_FUNCTION_WORD_LIST = """
    a an the this that these those some any each every no not
    of in on at to for with by from about into onto over under after before between
    through during without within across along around against among toward towards like
    and or but nor so yet because if when while where whereas whether than as unless until
    who whom whose which what how why
    is are was were be been being am can could will would shall should may might must
    do does did has have had
    i you he she it we they me him her us them my your his its our their
    i'm i'd i'll i've you're you'd you'll you've he's he'd he'll she's she'd she'll it's
    it'll we're we'd we'll we've they're they'd they'll they've that's there's here's
    what's who's let's isn't aren't wasn't weren't don't doesn't didn't can't couldn't
    won't wouldn't shouldn't hasn't haven't hadn't
"""
_FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())
_WORD = re.compile(r"[A-Za-z']+")
# Common abbreviations whose period does not end a sentence.
_ABBREVIATIONS = frozenset(
    {"mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "vs.", "etc.", "e.g.", "i.e."}
)


class SentenceChunker:
    """Turns a stream of text deltas into speakable chunks.

    `first_clause_min_chars`: the first chunk may end at a clause boundary once it has at
    least this many characters; `long_clause_chars`: so may any later chunk from this
    length. `first_phrase_min_chars`: the first chunk may end at a phrase break from this
    length (None: never). `first_max_chars` / `max_chars`: a first / later chunk with no
    boundary at all is cut at the last space before this length, so a run-on reply still
    streams.
    """

    def __init__(
        self,
        *,
        first_clause_min_chars: int = 8,
        first_phrase_min_chars: int | None = 6,
        first_max_chars: int = 32,
        long_clause_chars: int = 100,
        max_chars: int = 180,
    ) -> None:
        self._buffer = ""
        self._emitted = 0  # chunks of this reply so far
        self._first_clause_min = first_clause_min_chars
        self._first_phrase_min = first_phrase_min_chars
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
                self._emitted += 1
        return chunks

    def flush(self) -> list[str]:
        """End of reply: return whatever text is left as a final chunk."""
        rest, self._buffer = self._buffer.strip(), ""
        self._emitted = 0
        return [rest] if rest else []

    def _find_cut(self) -> int | None:
        text = self._buffer
        cuts = []
        for match in _SENTENCE_END.finditer(text):
            if not self._is_abbreviation(text, match.start()):
                cuts.append(match.end())
                break
        clause_min, phrase_min, limit = self._limits()
        for match in _CLAUSE_END.finditer(text):
            if match.start() >= clause_min:
                cuts.append(match.end())
                break
        if phrase_min is not None and (phrase := self._phrase_break(text, phrase_min)) is not None:
            cuts.append(phrase)
        # Whichever comes first, as if the text arrived token by token.
        if min(cuts, default=len(text)) > limit:
            space = text.rfind(" ", 0, limit)
            return space + 1 if space > 0 else limit
        return min(cuts) if cuts else None

    def _limits(self) -> tuple[int, int | None, int]:
        """The next chunk's (clause from, phrase break from or None, cut at). The first
        chunk's limits double with every chunk until they reach the later chunks' own: each
        chunk is synthesised while the ones before it play, so a short first chunk followed
        by a long sentence would leave the listener a silence (bench: "playback gap")."""
        grow = 2 ** min(self._emitted, 8)
        clause = min(self._first_clause_min * grow, self._long_clause)
        phrase = None
        if self._first_phrase_min is not None and self._first_phrase_min * grow < self._long_clause:
            phrase = self._first_phrase_min * grow
        return clause, phrase, min(self._first_max * grow, self._max_chars)

    def _phrase_break(self, text: str, min_chars: int) -> int | None:
        """Where the first phrase break is: the start of a whole function word (one a space
        or punctuation follows, so "of" is not the start of "often") after a content word,
        once the text before it has `min_chars`. A word followed by punctuation is whole
        too: "Sure, I'd be happy | to help" breaks after an opening "Sure,"."""
        previous: re.Match[str] | None = None
        for match in _WORD.finditer(text):
            complete = match.end() < len(text) and not text[match.end()].isalnum()
            if not complete:
                break
            if (
                previous is not None
                and match.group().lower() in _FUNCTION_WORDS
                and previous.group().lower() not in _FUNCTION_WORDS
                and text[previous.end() : match.start()].isspace()  # no punctuation between
                and text[match.end()].isspace()  # "said | so!" would voice "so!" alone
                and len(text[: match.start()].strip()) >= min_chars
            ):
                return match.start()
            previous = match
        return None

    @staticmethod
    def _is_abbreviation(text: str, end_index: int) -> bool:
        if text[end_index] != ".":
            return False
        word_start = text.rfind(" ", 0, end_index) + 1
        word = text[word_start : end_index + 1].lower()
        return word in _ABBREVIATIONS or (len(word) == 2 and word[0].isalpha())
