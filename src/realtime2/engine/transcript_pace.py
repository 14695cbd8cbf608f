"""How long this process's recent turn transcripts took: whether guessing ahead pays here.

An early draft (docs/engine.md, "Early drafts") may transcribe the turn where the voice fades,
~0.13 s before the pause, and start the reply on that guess. The guess is worth its cost only
where a transcript is quick: then it is ready near the pause and the reply is ~0.1 s ahead.
Where a transcript takes longer, the guesses (one at nearly every fade, most of them thrown
away when the voice comes back) keep both cores busy during speech and at the pause, and the
pause's own work waits for them. Measured on an Intel Xeon (Ice Lake, 2 vCPUs), where a
turn's transcript took ~0.29 s: guessing made first audio later, 0.518 / 0.380 s against
0.386 / 0.315 s without (medians of two interleaved pairs of 24-turn runs), p95 1.99 / 0.89 s
against 0.73 / 0.53 s. On AMD Zen 5, where it took ~0.17 s, guessing made it sooner.

So the runner records each reply draft's transcript time (wall time, waits for a core
included: a busy machine is a slow one), and guesses only while the recent median is under
`GUESS_MAX_TRANSCRIPT_S`. Shared by every session of the process, like the cores it measures.
The operator may decide instead (`REALTIME2_DRAFT_GUESSES`: "always" or "never"; "auto" is
this rule).
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Final, Literal

GuessMode = Literal["auto", "always", "never"]  # `EngineSettings.draft_guesses`

# A pause's transcript took ~0.17-0.18 s on Zen 5, 0.19-0.26 s on Zen 4, 0.27 s and more on
# Zen 3 and the Xeon (bench/README.md).
GUESS_MAX_TRANSCRIPT_S: Final = 0.22
RECENT: Final = 16  # transcripts the median is taken over
MIN_SAMPLES: Final = 3  # fewer: not known yet, and guessing is allowed


class TranscriptPace:
    """The recent turn transcripts' times. Used on the event loop only (the draft runners)."""

    def __init__(self, mode: GuessMode = "auto") -> None:
        self.mode = mode
        self._recent: deque[float] = deque(maxlen=RECENT)

    def record(self, seconds: float) -> None:
        self._recent.append(seconds)

    def typical(self) -> float | None:
        """The median of the recent transcripts, or None before `MIN_SAMPLES` of them."""
        return statistics.median(self._recent) if len(self._recent) >= MIN_SAMPLES else None

    def quick(self) -> bool:
        """Are transcripts quick enough here for a guess to pay (True until known)?"""
        typical = self.typical()
        return typical is None or typical <= GUESS_MAX_TRANSCRIPT_S

    def guessing(self) -> bool:
        """May early drafts guess (on an idle core: the runner checks that), by the
        operator's `mode` and, in "auto", the pace?"""
        if self.mode == "auto":
            return self.quick()
        return self.mode == "always"
