"""`RealtimeSession`: the sans-I/O state machine of one Realtime API session.

Inputs: client event text (`receive_text`), raw PCM from a media track (`receive_audio`),
results of engine work (`on_*`), and time (`tick`, read from the injected clock).
Outputs: server events (`events_to_send`, JSON-ready dicts) and commands for the runner
(`commands`, see `protocol.commands`). Nothing here awaits, sleeps or touches a socket,
so the whole protocol is tested by feeding inputs and reading outputs.

The session composes its parts the way h11's `Connection` composes `ConnectionState`:
each part gets only what it works on and never sees the session.

    settings      SessionSettings    session.update, the effective configuration
    conversation  Conversation       the items, as the client sees them
    input         InputAudio         the input audio buffer and turn detection
    outbox        Outbox             events and commands, written by every part
    turns         UserTurns          settings, conversation, input, outbox
    responses     Responses          settings, conversation, outbox, audio_out
    truncation    plan_truncation    the conversation

Parts say what should happen next in their return values (a turn wants a response, a
response finished); the session routes it. Time comes in from the driver: `clock` (for
deadlines) and `wall_clock` (for `expires_at`) are injected, and the parts receive `now`.

Every client error becomes an `error` event echoing the client's `event_id`, and the
session stays usable. Results for responses that are no longer active are dropped here,
which is what guarantees no audio of a cancelled response reaches the client.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Literal

import numpy as np

from realtime2.audio.pcm import pcm16_to_float
from realtime2.engine.interfaces import AudioChunk, TokenUsage, VADStream
from realtime2.protocol import audio_formats
from realtime2.protocol import client_events as ce
from realtime2.protocol import commands as cmd
from realtime2.protocol.conversation import Conversation
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.limits import ConversationLimits, decode_base64
from realtime2.protocol.models import DEFAULT_MODEL, resolve_realtime_model
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.response_set import AudioOut, Responses, TurnTiming
from realtime2.protocol.responses import Reason, ResponseState
from realtime2.protocol.server_events import ProtocolError, ServerEvent, event, new_id
from realtime2.protocol.session_config import SessionSettings, SessionType, default_session
from realtime2.protocol.truncation import plan_truncation
from realtime2.protocol.turn_detection import (
    PauseStarted,
    SilenceProbe,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnSignal,
    VadParams,
    VoiceFading,
    completeness,
)
from realtime2.protocol.user_turns import UserTurns

__all__ = ["MAX_APPEND_BYTES", "MAX_SESSION_SECONDS", "AudioOut", "RealtimeSession", "TurnTiming"]

MAX_APPEND_BYTES: Final = 15 * 1024 * 1024
MAX_SESSION_SECONDS: Final = 60 * 60


class RealtimeSession:
    def __init__(
        self,
        *,
        vad: VADStream,
        vad_rate: int,
        vad_frame_samples: int,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        model: str | None = None,
        kind: SessionType = "realtime",
        audio_out: AudioOut = "events",
        max_session_seconds: float = MAX_SESSION_SECONDS,
        speculative: bool = True,
        limits: ConversationLimits | None = None,
        token_cap: int | None = None,
        live_transcription: bool = False,
        turn_model: bool = False,
    ) -> None:
        """`clock`: monotonic seconds, for the session's deadlines; `wall_clock`: Unix
        seconds, for `expires_at`; `audio_out`: how reply audio leaves (`Responses`);
        `speculative`: draft each VAD turn during its silence window (`user_turns`);
        `token_cap`: the LLM's reply cap when a client asks for "inf" (shown as such);
        `live_transcription`: the STT can continue a transcript, so transcription deltas
        go out while the user speaks (`protocol.live_transcription`); `turn_model`: the
        runner has an end-of-turn model for semantic_vad (`CheckTurnEnd`)."""
        resolve_realtime_model(model)  # the transport checked it; this guards direct use
        self.clock = clock
        self.audio_out: AudioOut = audio_out
        self.id = new_id("sess")
        self._deadline = clock() + max_session_seconds
        self.settings = SessionSettings(
            default_session(
                kind,
                model=model or DEFAULT_MODEL,
                session_id=self.id,
                expires_at=int(wall_clock() + max_session_seconds),
                token_cap=token_cap,
            ),
            token_cap=token_cap,
        )
        self.conversation = Conversation(limits)
        self.input = InputAudio(vad, vad_rate, vad_frame_samples)
        self.outbox = Outbox()
        self.turns = UserTurns(
            self.settings,
            self.conversation,
            self.input,
            self.outbox,
            speculative=speculative,
            live=live_transcription,
            turn_model=turn_model,
        )
        self.responses = Responses(self.settings, self.conversation, self.outbox, audio_out)
        self.closed = False
        self._idle_deadline: float | None = None
        self._apply_turn_detection()
        self.outbox.emit(event("session.created", session=self.settings.render()))

    @property
    def turn_timings(self) -> list[TurnTiming]:
        return self.responses.turn_timings

    # --- outputs -------------------------------------------------------------------------

    def events_to_send(self) -> list[ServerEvent]:
        return self.outbox.take_events()

    def commands(self) -> list[cmd.Command]:
        return self.outbox.take_commands()

    # --- inputs --------------------------------------------------------------------------

    def receive_text(self, text: str | bytes) -> None:
        """One client message (WebSocket text frame or data-channel message)."""
        if not self._check_alive():
            return
        parsed = ce.parse_client_event(text)
        if isinstance(parsed, ce.ParseError):
            self.outbox.emit(
                ProtocolError(parsed.code, parsed.message, param=parsed.param).to_event(
                    parsed.event_id
                )
            )
            return
        self.receive_event(parsed)

    def receive_event(self, ev: ce.ClientEvent) -> None:
        if not self._check_alive():
            return
        try:
            self._dispatch(ev)
        except ProtocolError as exc:
            self.outbox.emit(exc.to_event(ev.event_id))

    def receive_audio(self, pcm: bytes, sample_rate: int) -> None:
        """Raw s16le mono from a media track (WebRTC); same path as buffer appends."""
        if not self._check_alive():
            return
        try:
            self._append(pcm16_to_float(pcm), sample_rate)
        except ProtocolError as exc:
            self.outbox.emit(exc.to_event(None))

    def tick(self) -> None:
        """Let time pass: session expiry and the idle timeout read the clock here."""
        if not self._check_alive():
            return
        if self._idle_deadline is not None and self.clock() >= self._idle_deadline:
            self._idle_deadline = None
            if self.turns.idle_timeout(responding=self.responses.active is not None):
                self._create_response(None)

    def next_deadline(self) -> float | None:
        """When `tick` next has work to do (clock time), for the runner's timer."""
        if self.closed:
            return None
        if self._idle_deadline is None:
            return self._deadline
        return min(self._deadline, self._idle_deadline)

    def close(self) -> None:
        """The client went away: stop all work. Emits no events (nobody is listening)."""
        self._end("closed")

    def set_rate_limits(self, limits: list[dict[str, Any]]) -> None:
        """The caller's limits as they stand now (the runner keeps them current); sent
        as `rate_limits.updated` right after each `response.created`."""
        self.responses.rate_limits = limits

    def _end(self, reason: Literal["expired", "closed"]) -> None:
        if self.closed:
            return
        self.closed = True
        self.responses.stop_all()
        self.outbox.command(cmd.CloseSession(reason))

    def _check_alive(self) -> bool:
        if self.closed:
            return False
        if self.clock() < self._deadline:
            return True
        self.outbox.emit(
            ProtocolError(
                "session_expired",
                "Your session hit the maximum duration of 60 minutes.",
            ).to_event(None)
        )
        self._end("expired")
        return False

    # --- client events -------------------------------------------------------------------

    def _dispatch(self, ev: ce.ClientEvent) -> None:
        if isinstance(ev, ce.SessionUpdate):
            before = self.settings.turn_detection
            self.settings.apply(ev.session, voice_locked=self.responses.voice_locked)
            if self.settings.turn_detection != before:
                self._apply_turn_detection()
            self.input.set_noise_reduction(*(self.settings.noise_reduction or (None,)))
            self.outbox.emit(event("session.updated", session=self.settings.render()))
            if self.settings.kind == "realtime":
                self.settings.mcp.configure(self.settings.tools, self.conversation, self.outbox)
        elif isinstance(ev, ce.InputAudioBufferAppend):
            self._append_b64(ev.audio)
        elif isinstance(ev, ce.InputAudioBufferCommit):
            self.turns.commit_manual()
        elif isinstance(ev, ce.InputAudioBufferClear):
            self.turns.clear()
            self.outbox.emit(event("input_audio_buffer.cleared"))
        elif isinstance(ev, ce.OutputAudioBufferClear):
            self.responses.clear_output()
        elif isinstance(ev, ce.ConversationItemCreate):
            if isinstance(ev.item, ce.McpApprovalResponseItem):
                self.settings.mcp.check_approval(self.conversation, ev.item.approval_request_id)
            self.turns.create_item(ev.item, ev.previous_item_id)
        elif isinstance(ev, ce.ConversationItemRetrieve):
            item = self.conversation.snapshot(ev.item_id)
            self.outbox.emit(event("conversation.item.retrieved", item=item))
        elif isinstance(ev, ce.ConversationItemTruncate):
            cut = plan_truncation(self.conversation, ev)
            for response in self.responses.producing(ev.item_id):
                self._cancel(response, "client_cancelled")
            self.outbox.emit(cut.apply())
        elif isinstance(ev, ce.ConversationItemDelete):
            self.conversation.delete(ev.item_id)
            self.outbox.emit(event("conversation.item.deleted", item_id=ev.item_id))
        elif isinstance(ev, ce.ResponseCreate):
            self._create_response(ev.response)
        elif isinstance(ev, ce.ResponseCancel):
            self._cancel(self.responses.to_cancel(ev.response_id), "client_cancelled")

    def _apply_turn_detection(self) -> None:
        self.turns.discard_draft()
        td = self.settings.turn_detection
        if td is None:
            self.input.set_detector(None)
            return
        if td["type"] == "server_vad":
            params = VadParams(td["threshold"], td["silence_duration_ms"])
        else:
            params = VadParams(eagerness=td["eagerness"])
        self.input.set_detector(TurnDetector(params))

    def _append_b64(self, audio: str) -> None:
        data = decode_base64(
            audio,
            MAX_APPEND_BYTES,
            too_large=ProtocolError(
                "input_audio_buffer_append_too_large",
                "An input_audio_buffer.append event may carry at most 15 MB of audio.",
                param="audio",
            ),
            invalid="The 'audio' field is not valid base64.",
            param="audio",
        )
        fmt = self.settings.input_format
        self._append(audio_formats.decode(data, fmt), audio_formats.format_rate(fmt))

    def _append(self, samples: np.ndarray, rate: int) -> None:
        signals = self.input.append(samples, rate)
        self._handle_signals(signals)
        self.turns.live_tick()
        if not self.turns.speaking and self.settings.turn_detection is not None:
            pad = int(self.settings.turn_detection.get("prefix_padding_ms") or 300)
            self.input.drop_before(self.input.now_ms - pad)

    def _handle_signals(self, signals: list[TurnSignal]) -> None:
        for signal in signals:
            if isinstance(signal, SpeechStarted):
                self._idle_deadline = None
                interrupt = self.turns.speech_started(signal.start_ms)
                active = self.responses.active
                if interrupt and active is not None:
                    self._cancel(active, "turn_detected")
            elif isinstance(signal, PauseStarted):
                self.turns.pause_started(
                    responding=self.responses.active is not None, end_ms=signal.end_ms
                )
            elif isinstance(signal, VoiceFading):
                self.turns.voice_fading(responding=self.responses.active is not None)
            elif isinstance(signal, SpeechResumed):
                self.turns.speech_resumed()
            elif isinstance(signal, SilenceProbe):
                self.turns.request_partial()
            elif isinstance(signal, SpeechStopped):
                responding = self.responses.active is not None
                respond = self.turns.speech_stopped(signal.end_ms, responding=responding)
                if respond is not None:
                    self._create_response(
                        None, turn_ended_at=self.clock(), draft_id=respond.draft_id
                    )

    # --- responses -------------------------------------------------------------------------

    def _create_response(
        self,
        config: ce.ResponseConfig | None,
        *,
        turn_ended_at: float | None = None,
        draft_id: str | None = None,
    ) -> None:
        self.responses.create(
            config, pending=self._pending(), turn_ended_at=turn_ended_at, draft_id=draft_id
        )
        self._idle_deadline = None

    def _cancel(self, response: ResponseState, reason: Reason) -> None:
        if self.responses.cancel(response, reason):
            self._finished(response)

    def _finished(self, response: ResponseState | None) -> None:
        """A response ended: the idle timeout (if on) counts from the end of its audio."""
        if response is None:
            return
        deadline = self.turns.idle_deadline(response, self.clock())
        if deadline is not None:
            self._idle_deadline = deadline

    def _pending(self) -> set[str]:
        """Items whose content is still coming: transcripts, MCP tool listings."""
        return self.turns.pending | self.settings.mcp.pending

    def _transcripts_changed(self) -> None:
        """A transcript (or an MCP listing) settled: responses waiting for it may start."""
        self.responses.start_ready(self._pending(), self.turns.transcripts.failures)

    # --- results from the runner -----------------------------------------------------------

    def on_partial_transcript(self, item_id: str, text: str) -> None:
        if self.input.detector is not None and self.turns.current_item_id == item_id:
            self.input.detector.set_completeness(completeness(text))

    def on_turn_end_score(self, item_id: str, check_id: int, probability: float) -> None:
        """A `CheckTurnEnd`'s answer: the probability that the user has finished."""
        self.turns.turn_end.answered(item_id, check_id, probability)

    def on_turn_end_failed(self, item_id: str, check_id: int) -> None:
        self.turns.turn_end.failed(item_id, check_id)

    def on_draft_transcript(self, draft_id: str, text: str) -> None:
        self.turns.draft_transcript(draft_id, text)
        self._transcripts_changed()

    def on_draft_failed(self, draft_id: str, code: str, message: str) -> None:
        self.turns.draft_failed(draft_id, code, message)
        self._transcripts_changed()

    def on_live_transcript(self, item_id: str, request_id: int, text: str) -> None:
        """A live hypothesis (`TranscribePartial` with `live`): the open chunk's text."""
        self.turns.live_transcript(
            item_id, request_id, text, responding=self.responses.active is not None
        )

    def on_live_failed(self, item_id: str, request_id: int) -> None:
        self.turns.live_failed(item_id, request_id)

    def on_transcript_delta(self, item_id: str, delta: str) -> None:
        self.turns.transcripts.delta(item_id, delta)

    def on_transcript_done(
        self,
        item_id: str,
        text: str,
        audio_seconds: float,
        logprobs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.turns.transcripts.done(item_id, text, audio_seconds, logprobs)
        self._transcripts_changed()

    def on_mcp_tools_listed(self, item_id: str, tools: list[dict[str, Any]]) -> None:
        """`ListMcpTools` answered: the `mcp_list_tools` item completes."""
        self.settings.mcp.listed(item_id, tools, self.conversation, self.outbox)
        self._transcripts_changed()

    def on_mcp_tools_failed(self, item_id: str, message: str) -> None:
        self.settings.mcp.list_failed(item_id, message, self.conversation, self.outbox)
        self._transcripts_changed()

    def on_mcp_call_done(
        self,
        response_id: str,
        item_id: str,
        output: str | None,
        error: dict[str, Any] | None = None,
    ) -> None:
        """`CallMcpTool` answered: the `mcp_call` item completes (or fails)."""
        self.responses.mcp_call_done(response_id, item_id, output, error)

    def on_unsupported(self, code: str, message: str, param: str) -> None:
        """The engines cannot honour a setting the client chose (found when work ran): an
        `error` event naming it; the session goes on."""
        self.outbox.emit(ProtocolError(code, message, param=param).to_event(None))

    def on_transcript_failed(self, item_id: str, code: str, message: str) -> None:
        self.turns.transcripts.failed(item_id, code, message)
        self._transcripts_changed()

    def on_response_text(self, response_id: str, text: str) -> None:
        self.responses.text(response_id, text)

    def on_response_sentence(self, response_id: str, text: str) -> None:
        self.responses.sentence(response_id, text)

    def on_response_audio(self, response_id: str, chunk: AudioChunk) -> None:
        self.responses.audio(response_id, chunk, self.clock())

    def on_response_tool_call(
        self, response_id: str, call_id: str, name: str, arguments_delta: str
    ) -> None:
        self.responses.tool_call(response_id, call_id, name, arguments_delta)

    def on_response_done(self, response_id: str, finish_reason: str, usage: TokenUsage) -> None:
        self._finished(self.responses.done(response_id, finish_reason, usage, self.clock()))

    def on_response_failed(
        self, response_id: str, code: str, message: str, error_type: str = "server_error"
    ) -> None:
        """An engine failed (`server_error`) or cannot serve the request as asked
        (`invalid_request_error`); the client sees a failed response, the session goes on."""
        self._finished(self.responses.failed(response_id, code, message, error_type))
