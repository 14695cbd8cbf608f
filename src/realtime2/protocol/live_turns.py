"""Live transcription of the turn being spoken, as `UserTurns` drives it.

`LiveTurn` (`protocol.live_transcription`) is the pure state of one turn's live transcript;
this is the part that talks to the runner: when to ask for the next hypothesis of the open
chunk (`tick`), what audio and context the request carries, and which deltas the answers,
and a draft's transcript of the pause, send. `UserTurns` owns the turn's lifecycle (start,
pause, commit) and the speculative draft; it tells this class about them and never reaches
into the `LiveTurn` itself.
"""

from __future__ import annotations

from realtime2.protocol.commands import TranscribePartial
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.item_transcripts import ItemTranscripts
from realtime2.protocol.live_transcription import CHUNK_CLOSE_MS, LiveTurn, join, profile
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.session_config import SessionSettings
from realtime2.protocol.turn_detection import FADING, completeness


class LiveTranscriber:
    """`capable`: the session's STT can continue a transcript (`prefix`), so live deltas
    are possible at all."""

    def __init__(
        self,
        settings: SessionSettings,
        audio: InputAudio,
        transcripts: ItemTranscripts,
        outbox: Outbox,
        *,
        capable: bool,
    ) -> None:
        self._settings = settings
        self._input = audio
        self._transcripts = transcripts
        self._out = outbox
        self._capable = capable
        self.turn: LiveTurn | None = None  # the live transcript of the turn being spoken

    @property
    def enabled(self) -> bool:
        # Deltas carry no log-probabilities: such a session is transcribed once committed.
        return self._capable and self._transcripts.emitting and not self._settings.logprobs

    def start(self, item_id: str, start_ms: int) -> None:
        """A turn began at `start_ms`: transcribe it live if the session can."""
        delay = (self._settings.transcription or {}).get("delay")
        self.turn = LiveTurn(item_id, start_ms, profile(delay)) if self.enabled else None

    def take(self) -> LiveTurn | None:
        """The turn is committed (or dropped): its live transcript, now ended."""
        turn, self.turn = self.turn, None
        return turn

    def pause(self, end_ms: int) -> None:
        """The user paused at `end_ms`: a long chunk closes here, by the draft's transcript
        or a closing request."""
        turn = self.turn
        if turn is not None and end_ms - turn.chunk_start_ms >= CHUNK_CLOSE_MS:
            turn.close_at = end_ms

    def tick(self) -> None:
        """Audio arrived (and no draft is transcribing the pause): ask for the next
        hypothesis when one is due."""
        turn = self.turn
        if turn is None:
            return
        detector = self._input.detector
        fading = detector is not None and detector.probability < FADING
        if turn.due(self._input.now_ms, fading=fading) or (
            turn.close_at is not None and not turn.outstanding
        ):
            self.request(urgent=False)

    def request(self, *, urgent: bool) -> None:
        """Ask for a hypothesis of the open chunk up to now (`urgent`: semantic VAD waits
        for it to decide the turn's end)."""
        turn = self.turn
        assert turn is not None
        request = turn.request(self._input.now_ms)
        start, end = self._input.sample(turn.chunk_start_ms), self._input.sample(request.end_ms)
        audio = self._input.peek(turn.chunk_start_ms)[: max(0, end - start)]
        self._out.command(
            TranscribePartial(
                turn.item_id,
                audio,
                self._input.rate,
                self._settings.transcription_language,
                live=True,
                request_id=request.id,
                prompt=turn.context(self._settings.transcription_prompt),
                prefix=turn.prefix,
                urgent=urgent,
            )
        )

    def answer(
        self, item_id: str, request_id: int, text: str, *, pause_ms: int | None, drafting: bool
    ) -> bool:
        """A hypothesis of the open chunk arrived (`text` continues its prefix). `pause_ms`:
        where the current pause began (None: the user is talking); `drafting`: a draft's
        transcript covers the pause and decides the words instead. Whether the hypothesis
        was taken as the turn's words (`LiveTurn.heard`): False when it answers no
        outstanding request, or the draft decides."""
        turn = self.turn
        if turn is None or turn.item_id != item_id:
            return False
        request = turn.answered(request_id)
        if request is None:
            return False
        detector = self._input.detector
        if detector is not None and pause_ms is not None and request.end_ms >= pause_ms:
            detector.set_completeness(completeness(join(turn.head, text)))  # semantic VAD
        if drafting:
            return False
        if request.close:
            self._delta(item_id, turn.close(text, request.end_ms))
        else:
            self._delta(item_id, turn.hypothesis(text))
        return True

    def from_draft(self, chunk: int, end_ms: int, text: str) -> None:
        """A draft's transcript (of chunk `chunk` up to `end_ms`) is the best hypothesis of
        the open chunk: it closes the chunk at a long chunk's pause, and otherwise counts
        towards agreement."""
        turn = self.turn
        if turn is None or chunk != turn.chunk or not text.startswith(turn.head):
            return
        chunk_text = text[len(turn.head) :].strip()
        if turn.close_at is not None:
            self._delta(turn.item_id, turn.close(chunk_text, end_ms))
        else:
            self._delta(turn.item_id, turn.hypothesis(chunk_text))

    def failed(self, item_id: str, request_id: int) -> None:
        if self.turn is not None and self.turn.item_id == item_id:
            self.turn.answered(request_id)

    def _delta(self, item_id: str, delta: str) -> None:
        self._transcripts.live_delta(item_id, delta)
