"""End-of-turn checks: `semantic_vad` asks the end-of-turn model at each pause.

When the user goes quiet (`PauseStarted`, two VAD frames into the silence) and the session's
runner has an end-of-turn model, the turn's last ≤ 8 s go out as a `CheckTurnEnd`. It is
asked sooner, where the voice began to fade (`VoiceFading`, ~0.13 s before the pause), beside
the early draft; the pause asks again only if that check said "unfinished" (the falling
pitch of the last syllable was not yet heard) or was declined on a busy machine. Its
probability comes back through `answered` and sets the silence window of that pause
(`TurnDetector.set_turn_score`). Each check is numbered: an answer for a pause the user has
since talked through, or for an earlier turn, is dropped, and such a check is called off
(`CancelTurnCheck`) as soon as the pause is over. A check that fails leaves the
window to the words (`completeness`), as if there were no model.

Sans-I/O like the rest of the protocol: this only writes commands and reads answers.
"""

from __future__ import annotations

from typing import Final

from realtime2.protocol.commands import CancelTurnCheck, CheckTurnEnd
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.turn_detection import TURN_THRESHOLDS

TURN_AUDIO_MS: Final = 8000  # Smart Turn hears the last 8 s; older audio would be dropped


class TurnEndChecks:
    def __init__(self, audio: InputAudio, outbox: Outbox, *, enabled: bool) -> None:
        self._input = audio
        self._out = outbox
        self.enabled = enabled  # the runner has an end-of-turn model
        self._seq = 0
        self._open: tuple[str, int] | None = None  # (item id, check id) of this pause
        # Where the turn is: None (talking), "fade" (asked when the voice faded, the pause
        # has not come), "paused".
        self._at: str | None = None
        self._fade_check: tuple[str, int] | None = None  # (item, turn start) asked at the fade

    def fading(self, item_id: str, turn_start_ms: int) -> None:
        """The voice began to fade in turn `item_id`: ask already, ~0.13 s before the pause
        (whose window the answer then sets), beside the early draft's guess."""
        if self._ask(item_id, turn_start_ms, at_fade=True):
            self._at = "fade"
            self._fade_check = (item_id, turn_start_ms)

    def pause(self, item_id: str, turn_start_ms: int) -> None:
        """The user paused in turn `item_id`: ask how finished it sounds (semantic_vad),
        unless the fade before it asked already."""
        if self._at == "fade":
            self._at = "paused"
            return
        self._at = "paused"
        self._ask(item_id, turn_start_ms)

    def _ask(self, item_id: str, turn_start_ms: int, *, at_fade: bool = False) -> bool:
        detector = self._input.detector
        if not self.enabled or detector is None or detector.params.eagerness is None:
            return False
        self._seq += 1
        self._open = (item_id, self._seq)
        self._fade_check = None
        start = max(turn_start_ms, self._input.now_ms - TURN_AUDIO_MS)
        audio = self._input.peek(start)[-self._input.sample(TURN_AUDIO_MS) :]
        self._out.command(CheckTurnEnd(item_id, self._seq, audio, self._input.rate, at_fade))
        return True

    def resumed(self) -> None:
        """The user talked on (or the turn ended): the open check's answer is stale. It is
        called off: a check still queued behind other sessions' never runs."""
        if self._open is not None:
            self._out.command(CancelTurnCheck(*self._open))
        self._open = None
        self._at = None
        self._fade_check = None

    def answered(self, item_id: str, check_id: int, probability: float) -> bool:
        """The model's answer; True when it set the window of the pause still running."""
        detector = self._input.detector
        if self._open != (item_id, check_id) or detector is None:
            return False
        self._open = None
        detector.set_turn_score(probability)
        eagerness = detector.params.eagerness
        if eagerness is not None and probability < TURN_THRESHOLDS[eagerness]:
            # If this was the fade's check, "unfinished" came from the audio up to the fade:
            # the pause's own last syllable (a falling pitch) may say otherwise, so the
            # pause asks again.
            self._ask_at_pause()
        self._fade_check = None
        return True

    def _ask_at_pause(self) -> None:
        """The fade's check does not decide: the pause asks (now, if it has come)."""
        asked_at_fade, self._fade_check = self._fade_check, None
        if asked_at_fade is None:
            return
        if self._at == "paused":
            self._ask(*asked_at_fade)
        else:
            self._at = None

    def failed(self, item_id: str, check_id: int) -> None:
        if self._open == (item_id, check_id):
            self._open = None  # the words decide this pause, unless it was the fade's check
            self._ask_at_pause()  # (declined on a busy machine): then the pause asks
