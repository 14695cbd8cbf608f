"""The user's side of a session: VAD turns, commits, items and their transcripts.

Speculative drafts: when VAD reports the start of a pause (`pause_started`), the turn so far
is sent off as a `PrepareDraft`: the runner transcribes it and, when the session would
answer the turn, drafts the reply. If the user speaks again the draft is discarded; if the
silence window completes, the committed item takes the draft's transcript (no second
whisper run) and the automatic response names the draft so the runner can adopt its
already-synthesised audio. The draft only ever covers pure silence less than the committed
audio: any sound loud enough to reset the silence window also discards the draft.

A draft that would answer the turn starts earlier, where the voice begins to fade
(`voice_fading`, an *early* draft): the runner may begin the reply on a transcript of the
audio so far. The pause then confirms it (`ConfirmDraft`, the audio up to the pause, so the
rule above holds): the transcript reported is the confirmed one, and a reply begun on
other words starts again. A voice that comes back up before the pause discards it.

`UserTurns` receives what it works on (settings, conversation, input audio, outbox) and
never the session: where a turn should lead to a response it says so in its return value
(`speech_started`, `speech_stopped`, `idle_timeout`), and the session acts on it. Whether
a response is already running comes in as an argument, as does the time.

Live transcription (`protocol.live_turns`, a session that transcribes with an STT that can
continue a transcript): while the turn is spoken its stable words go out as deltas; drafts
and the final pass transcribe only the turn's open chunk after them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from realtime2.protocol import client_events as ce
from realtime2.protocol.commands import (
    ConfirmDraft,
    DiscardDraft,
    DraftReply,
    PrepareDraft,
    TranscribePartial,
    TranscribeTurn,
    WarmPrompt,
    draft_request,
)
from realtime2.protocol.conversation import Conversation
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.item_audio import decode_item_audio
from realtime2.protocol.item_transcripts import ItemTranscripts
from realtime2.protocol.items import build_item
from realtime2.protocol.live_transcription import LiveTurn
from realtime2.protocol.live_turns import LiveTranscriber
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.requests import draft_reply
from realtime2.protocol.responses import ResponseState
from realtime2.protocol.server_events import ProtocolError, event, new_id
from realtime2.protocol.session_config import SessionSettings
from realtime2.protocol.turn_detection import completeness
from realtime2.protocol.turn_drafts import Draft, DraftAudio, draft_audio
from realtime2.protocol.turn_end import TurnEndChecks

MIN_COMMIT_MS = 100


@dataclass(frozen=True)
class Respond:
    """A turn ended and wants the automatic response, adopting `draft_id`'s reply if set."""

    draft_id: str | None = None


class UserTurns:
    def __init__(
        self,
        settings: SessionSettings,
        conversation: Conversation,
        audio: InputAudio,
        outbox: Outbox,
        *,
        speculative: bool,
        live: bool = False,
        turn_model: bool = False,
    ) -> None:
        self._settings = settings
        self._conversation = conversation
        self._input = audio
        self._out = outbox
        self._speculative = speculative
        self.speaking = False
        self.current_item_id: str | None = None
        self._turn_start_ms = 0
        self.transcripts = ItemTranscripts(settings, conversation, outbox)
        self.draft: Draft | None = None  # draft of the current, uncommitted turn
        self._draft_items: dict[str, tuple[str, float]] = {}  # committed draft -> item, secs
        # Live deltas of the turn being spoken (`live`: the STT can continue a transcript).
        self._live = LiveTranscriber(settings, audio, self.transcripts, outbox, capable=live)
        self._pause_ms: int | None = None  # where the current pause began (audio time)
        self._warmed = ("", "")  # (item, words) of the last `WarmPrompt`
        # semantic_vad's end-of-turn model checks (`turn_model`: the runner has one).
        self.turn_end = TurnEndChecks(audio, outbox, enabled=turn_model)

    @property
    def _td(self) -> dict[str, Any]:
        return self._settings.turn_detection or {}

    @property
    def pending(self) -> set[str]:
        """Items whose transcript the runner is producing."""
        return self.transcripts.pending

    @property
    def live(self) -> LiveTurn | None:
        """The live transcript of the turn being spoken, if it is transcribed live."""
        return self._live.turn

    # --- VAD --------------------------------------------------------------------------

    def speech_started(self, start_ms: int) -> bool:
        """A turn began; True when it should interrupt a running response."""
        padded = max(0, start_ms - int(self._td.get("prefix_padding_ms") or 0))
        self._input.drop_before(padded)
        self._turn_start_ms = padded
        self.speaking = True
        self.current_item_id = new_id("item")
        self._pause_ms = None
        self._live.start(self.current_item_id, padded)
        self._out.emit(
            event(
                "input_audio_buffer.speech_started",
                audio_start_ms=padded,
                item_id=self.current_item_id,
            )
        )
        return bool(self._td.get("interrupt_response", True))

    def voice_fading(self, *, responding: bool) -> None:
        """The voice began to fade: perhaps a pause is coming. Draft the reply already (an
        early draft), for `pause_started` to confirm."""
        if self.current_item_id is not None:
            self.turn_end.fading(self.current_item_id, self._turn_start_ms)
        reply = self._draft_reply(responding)
        if reply is None or (self.draft is not None and self.draft.confirmed):
            return
        self.discard_draft()
        self.draft = self._prepare(reply, early=True)

    def pause_started(self, *, responding: bool, end_ms: int | None = None) -> None:
        """The user went quiet: ask how finished the turn sounds, and draft it while the
        silence window runs."""
        self._pause_ms = end_ms
        if self.current_item_id is not None:
            self.turn_end.pause(self.current_item_id, self._turn_start_ms)
        if end_ms is not None:
            self._live.pause(end_ms)
        if not self._drafts_allowed:
            return
        reply = self._draft_reply(responding)
        early = self.draft
        if early is not None and not early.confirmed and early.reply == reply:
            early.confirmed = True
            early.end_ms = self._input.now_ms
            a = self._draft_audio()
            early.chunk = a.chunk
            self._out.command(
                ConfirmDraft(
                    early.id, a.audio, a.sample_rate, a.language, a.prompt, a.prefix, a.head
                )
            )
            return
        self.discard_draft()
        self.draft = self._prepare(reply, early=False)

    @property
    def _drafts_allowed(self) -> bool:
        # A draft's transcript carries no log-probabilities: a session that asked for them
        # is transcribed once the turn is committed.
        return (
            self.current_item_id is not None and self._speculative and not self._settings.logprobs
        )

    def _draft_reply(self, responding: bool) -> DraftReply | None:
        """What a reply to the turn would answer, when the session would answer it."""
        settings = self._settings
        answer = (
            self._drafts_allowed
            and settings.kind == "realtime"
            and self._td.get("create_response", True)
            and not responding
        )
        return draft_reply(settings, self._conversation) if answer else None

    def _draft_audio(self) -> DraftAudio:
        return draft_audio(self._input, self._settings, self.live, self._turn_start_ms)

    def _prepare(self, reply: DraftReply | None, *, early: bool) -> Draft:
        a = self._draft_audio()
        draft = Draft(
            new_id("draft"),
            end_ms=self._input.now_ms,
            chunk=a.chunk,
            reply=reply,
            confirmed=not early,
        )
        self._out.command(
            PrepareDraft(
                draft.id,
                a.audio,
                a.sample_rate,
                a.language,
                a.prompt,
                reply,
                a.prefix,
                a.head,
                early=early,
            )
        )
        return draft

    def discard_draft(self) -> None:
        """The user kept talking (or the turn was dropped): the draft is worthless."""
        if self.draft is not None:
            self._out.command(DiscardDraft(self.draft.id))
            self.draft = None

    def speech_resumed(self) -> None:
        """The pause was not the end of the turn."""
        self._pause_ms = None
        self.turn_end.resumed()
        self.discard_draft()

    @property
    def _drafting(self) -> bool:
        """A draft is transcribing the pause (an early draft only once its pause came)."""
        return self.draft is not None and self.draft.confirmed

    def draft_transcript(self, draft_id: str, text: str) -> None:
        if draft_id in self._draft_items:  # the turn was committed before the text came
            item_id, seconds = self._draft_items.pop(draft_id)
            self.transcripts.done(item_id, text, seconds)
        elif self.draft is not None and self.draft.id == draft_id:
            self.draft.transcript = text
            if self._input.detector is not None:  # semantic VAD: no separate partial run
                self._input.detector.set_completeness(completeness(text))
            self._live.from_draft(self.draft.chunk, self.draft.end_ms, text)

    def draft_failed(self, draft_id: str, code: str, message: str) -> None:
        if draft_id in self._draft_items:
            item_id, _ = self._draft_items.pop(draft_id)
            self.transcripts.failed(item_id, code, message)
        elif self.draft is not None and self.draft.id == draft_id:
            self.discard_draft()  # the commit will transcribe the ordinary way

    def request_partial(self) -> None:
        if self.current_item_id is None:
            return
        if self._drafting:
            return  # the draft's transcript sets the completeness estimate
        if self.live is not None:  # the live hypotheses set it: ask for one now
            if self.live.outstanding is None:
                self._live.request(urgent=True)
            return
        self._out.command(
            TranscribePartial(
                self.current_item_id,
                self._input.peek(self._turn_start_ms),
                self._input.rate,
                self._settings.transcription_language,
            )
        )

    def speech_stopped(self, end_ms: int, *, responding: bool) -> Respond | None:
        """The turn ended: commit it; says whether to answer it (`responding`: a response
        to the conversation is running already)."""
        item_id = self.current_item_id or new_id("item")
        self.speaking = False
        self.current_item_id = None
        self.turn_end.resumed()
        self._out.emit(
            event("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
        )
        if self.draft is not None and not self.draft.confirmed:
            self.discard_draft()  # the turn ended before its pause was reported
        draft, self.draft = self.draft, None
        live = self._live.take()
        start_ms = self._input.now_ms - self._input.buffered_ms
        self._commit(self._input.take(end_ms), item_id, draft, live=(live, start_ms))
        if (
            self._td.get("create_response", True)
            and self._settings.kind == "realtime"
            and not responding
        ):
            return Respond(draft.id if draft is not None and draft.has_reply else None)
        if draft is not None and draft.has_reply:
            self._out.command(DiscardDraft(draft.id, keep_transcript=True))
        return None

    def idle_timeout(self, *, responding: bool) -> bool:
        """The idle timeout fired: commit what was heard; True to answer it."""
        item_id = new_id("item")
        end = self._input.now_ms
        self._out.emit(
            event(
                "input_audio_buffer.timeout_triggered",
                audio_start_ms=end - self._input.buffered_ms,
                audio_end_ms=end,
                item_id=item_id,
            )
        )
        self._commit(self._input.take(), item_id)
        return bool(self._td.get("create_response", True)) and not responding

    def idle_deadline(self, response: ResponseState, now: float) -> float | None:
        """A response ended at `now`: when the idle timeout fires (None: it does not)."""
        idle_ms = self._td.get("idle_timeout_ms")
        if not idle_ms or self._td.get("type") != "server_vad" or not response.in_conversation:
            return None
        played_until = now
        if response.first_audio_at is not None:
            played_until = max(now, response.first_audio_at + response.audio_ms / 1000)
        return float(played_until + idle_ms / 1000)

    # --- explicit buffer control --------------------------------------------------------

    def commit_manual(self) -> None:
        buffered = self._input.buffered_ms
        if buffered < MIN_COMMIT_MS:
            raise ProtocolError(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered}ms of audio.",
            )
        item_id = self.current_item_id or new_id("item")
        self.speaking = False
        self.current_item_id = None
        self.discard_draft()
        if self._input.detector is not None:
            self._input.detector.reset()
        live = self._live.take()
        start_ms = self._input.now_ms - self._input.buffered_ms
        self._commit(self._input.take(), item_id, live=(live, start_ms))

    def clear(self) -> None:
        self.discard_draft()
        self._input.clear()
        self.speaking = False
        self.current_item_id = None
        self._live.take()

    # --- live transcription -------------------------------------------------------------

    def live_tick(self) -> None:
        """Audio arrived: ask for the next hypothesis of the turn when one is due."""
        manual = self._settings.turn_detection is None and self._input.buffered_ms > 0
        if manual and self.live is None and self._live.enabled:  # a turn per commit
            self.current_item_id = self.current_item_id or new_id("item")
            self._live.start(self.current_item_id, self._input.now_ms - self._input.buffered_ms)
        if not self._drafting:  # else a draft is transcribing the pause
            self._live.tick()

    def live_transcript(
        self, item_id: str, request_id: int, text: str, *, responding: bool = False
    ) -> None:
        """A live hypothesis of the open chunk arrived (`text` continues its prefix);
        `responding`: a response to the conversation is running."""
        live = self.live
        taken = self._live.answer(
            item_id, request_id, text, pause_ms=self._pause_ms, drafting=self._drafting
        )
        if live is None or not taken:
            return
        # The same words in a later turn follow another history: a prompt of their own.
        if (live.item_id, live.heard) != self._warmed:
            self._warmed = (live.item_id, live.heard)
            self._warm_reply(live.heard, responding=responding)
        self.live_tick()

    def _warm_reply(self, words: str, *, responding: bool) -> None:
        """The reply's prompt, evaluated up to `words` while the user talks: the latest
        hypothesis's words, agreed or not. Every decode continues the agreed ones, and the
        draft's transcript most often goes on like the latest hypothesis too (one fewer
        hypothesis behind: ~1 s of speech, 3-4 tokens less to evaluate at the pause); where
        it does not, the cache is used up to the first word that differs."""
        settings = self._settings
        if (
            not self._speculative
            or responding
            or settings.kind != "realtime"
            or not self._td.get("create_response", True)
        ):
            return
        reply = draft_reply(settings, self._conversation)
        self._out.command(WarmPrompt(draft_request(reply.history, words)))

    def live_failed(self, item_id: str, request_id: int) -> None:
        self._live.failed(item_id, request_id)

    def _commit(
        self,
        audio: np.ndarray,
        item_id: str,
        draft: Draft | None = None,
        *,
        live: tuple[LiveTurn | None, int] = (None, 0),
    ) -> None:
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self._conversation.add(item)
        self._out.emit(
            event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
        )
        self._out.emit(event("conversation.item.added", previous_item_id=previous, item=dict(item)))
        self._out.emit(
            event(
                "conversation.item.done",
                previous_item_id=previous,
                item=self._conversation.snapshot(item_id),
            )
        )
        turn, start_ms = live
        if turn is not None and turn.item_id != item_id:
            turn = None
        if draft is None:
            self._transcribe(item_id, audio, turn, start_ms)
            return
        seconds = audio.size / self._input.rate
        self.transcripts.expect(item_id)
        if draft.transcript is not None:
            self.transcripts.done(item_id, draft.transcript, seconds)
        else:
            self._draft_items[draft.id] = (item_id, seconds)

    def create_item(self, model: ce.Item, previous_item_id: str | None) -> None:
        item, audio_b64 = build_item(model)
        self._conversation.admit(item)
        audio = (
            decode_item_audio(audio_b64, self._settings.input_format, self._input.rate)
            if audio_b64
            else None
        )
        previous = self._conversation.add(item, previous_item_id)
        self._out.emit(
            event(
                "conversation.item.added",
                previous_item_id=previous,
                item=self._conversation.snapshot(item["id"]),
            )
        )
        self._out.emit(
            event(
                "conversation.item.done",
                previous_item_id=previous,
                item=self._conversation.snapshot(item["id"]),
            )
        )
        if audio is not None:
            self._transcribe(item["id"], audio)

    # --- transcripts --------------------------------------------------------------------

    def _transcribe(
        self, item_id: str, audio: np.ndarray, live: LiveTurn | None = None, start_ms: int = 0
    ) -> None:
        if audio.size == 0:
            self.transcripts.expect(item_id)
            self.transcripts.done(item_id, "", 0.0)
            return
        if live is not None:  # only the open chunk, after the words already sent
            self.transcripts.expect(item_id, audio_seconds=audio.size / self._input.rate)
            skip = max(0, self._input.sample(live.chunk_start_ms - start_ms))
            self._out.command(
                TranscribeTurn(
                    item_id,
                    audio[skip:],
                    self._input.rate,
                    self._settings.transcription_language,
                    live.context(self._settings.transcription_prompt),
                    prefix=live.prefix,
                    head=live.head,
                )
            )
            return
        self.transcripts.expect(item_id)
        self._out.command(
            TranscribeTurn(
                item_id,
                audio,
                self._input.rate,
                self._settings.transcription_language,
                self._settings.transcription_prompt,
                logprobs=self._settings.logprobs,
            )
        )
