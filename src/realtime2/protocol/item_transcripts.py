"""The transcripts of committed user items: which are still coming, the words already sent
as deltas, and the events that report them.

Deltas only ever append (live words while the turn is spoken, then the STT's stream), so
an item's `completed` transcript is what was sent plus what follows it (`continuation`).
Transcription events go out only when the client asked for transcription; the transcript
is written into the conversation item either way, for the LLM to read.
"""

from __future__ import annotations

from typing import Any

from realtime2.protocol.conversation import Conversation
from realtime2.protocol.live_transcription import continuation
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.server_events import event
from realtime2.protocol.session_config import SessionSettings

DELTA = "conversation.item.input_audio_transcription.delta"
# Failed transcripts remembered for the responses that wait for them (the latest turns').
FAILED_KEPT = 32


class ItemTranscripts:
    def __init__(
        self, settings: SessionSettings, conversation: Conversation, outbox: Outbox
    ) -> None:
        self._settings = settings
        self._conversation = conversation
        self._out = outbox
        self.pending: set[str] = set()  # items whose transcript the runner is producing
        self._sent: dict[str, str] = {}  # transcript text already sent as deltas
        self._seconds: dict[str, float] = {}  # a live item's whole audio (its usage)
        # item -> (code, message) of its failed transcription, the latest FAILED_KEPT
        self.failures: dict[str, tuple[str, str]] = {}

    @property
    def emitting(self) -> bool:
        """Transcription events go out only when the client asked for transcription."""
        settings = self._settings
        return settings.kind == "transcription" or settings.transcription is not None

    def expect(self, item_id: str, *, audio_seconds: float | None = None) -> None:
        """A transcript of `item_id` is on its way (`audio_seconds`: its usage, when the STT
        hears only part of the item)."""
        self.pending.add(item_id)
        if audio_seconds is not None:
            self._seconds[item_id] = audio_seconds

    def live_delta(self, item_id: str, delta: str) -> None:
        """Words of the turn being spoken, agreed by live hypotheses."""
        if not delta:
            return
        self._sent[item_id] = self._sent.get(item_id, "") + delta
        self._out.emit(event(DELTA, item_id=item_id, content_index=0, delta=delta))

    def delta(self, item_id: str, delta: str) -> None:
        if item_id not in self.pending or not delta:
            return
        self._sent[item_id] = self._sent.get(item_id, "") + delta
        if self.emitting:
            self._out.emit(event(DELTA, item_id=item_id, content_index=0, delta=delta))

    def done(
        self,
        item_id: str,
        text: str,
        audio_seconds: float,
        logprobs: list[dict[str, Any]] | None = None,
    ) -> None:
        """The transcript of a pending item arrived; the item leaves `pending`.

        `logprobs` (the SDK's `LogProbProperties`, one per token) go into the events when
        the session asked for them."""
        extra: dict[str, Any] = {"logprobs": logprobs} if self._settings.logprobs else {}
        if item_id not in self.pending:
            return
        self.pending.discard(item_id)
        sent = self._sent.pop(item_id, "")
        audio_seconds = self._seconds.pop(item_id, audio_seconds)
        rest = continuation(sent, text)
        text = sent + rest
        if item_id in self._conversation:
            for part in self._conversation.get(item_id)["content"]:
                if part["type"] == "input_audio":
                    part["transcript"] = text
                    break
        if not self.emitting:
            return
        if rest:
            self._out.emit(
                event(
                    DELTA,
                    item_id=item_id,
                    content_index=0,
                    delta=rest,
                    **(extra if not sent else {}),
                )
            )
        self._out.emit(
            event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": round(audio_seconds, 3)},
                **extra,
            )
        )

    def failed(self, item_id: str, code: str, message: str) -> None:
        if item_id not in self.pending:
            return
        self.pending.discard(item_id)
        self._sent.pop(item_id, None)
        self._seconds.pop(item_id, None)
        self.failures[item_id] = (code, message)
        if len(self.failures) > FAILED_KEPT:
            del self.failures[next(iter(self.failures))]
        if self.emitting:
            self._out.emit(
                event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=0,
                    error={
                        "type": "transcription_error",
                        "code": code,
                        "message": message,
                        "param": None,
                    },
                )
            )
