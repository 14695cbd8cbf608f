"""`RealtimeSession`: the sans-I/O state machine of one Realtime API session.

Inputs: client event text (`receive_text`), raw PCM from a media track (`receive_audio`),
results of engine work (`on_*`), and time (`tick`, read from the injected clock).
Outputs: server events (`events_to_send`, JSON-ready dicts) and commands for the runner
(`commands`, see `protocol.commands`). Nothing here awaits, sleeps or touches a socket,
so the whole protocol is tested by feeding inputs and reading outputs.

Every client error becomes an `error` event echoing the client's `event_id`, and the
session stays usable. Results for responses that are no longer active are dropped here,
which is what guarantees no audio of a cancelled response reaches the client.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from realtime2.audio.pcm import pcm16_to_float
from realtime2.audio.resample import StreamResampler
from realtime2.engine.interfaces import AudioChunk, TokenUsage, VADStream
from realtime2.protocol import audio_formats
from realtime2.protocol import client_events as ce
from realtime2.protocol import commands as cmd
from realtime2.protocol.conversation import Conversation
from realtime2.protocol.input_audio import InputAudio
from realtime2.protocol.limits import ConversationLimits
from realtime2.protocol.models import DEFAULT_MODEL, resolve_realtime_model
from realtime2.protocol.requests import RequestSpec, build_request
from realtime2.protocol.responses import Reason, ResponseState
from realtime2.protocol.server_events import ProtocolError, ServerEvent, event, new_id
from realtime2.protocol.session_config import SessionSettings, SessionType, default_session
from realtime2.protocol.truncation import truncate
from realtime2.protocol.turn_detection import (
    PauseStarted,
    SilenceProbe,
    SpeechResumed,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    TurnSignal,
    VadParams,
    completeness,
)
from realtime2.protocol.user_turns import UserTurns

MAX_APPEND_BYTES: Final = 15 * 1024 * 1024
MAX_SESSION_SECONDS: Final = 60 * 60

Transport = Literal["websocket", "webrtc"]


@dataclass(frozen=True)
class TurnTiming:
    """From the end of the user's turn (speech_stopped) to the first audio of the reply."""

    response_id: str
    seconds: float


class RealtimeSession:
    def __init__(
        self,
        *,
        vad: VADStream,
        vad_rate: int,
        vad_frame_samples: int,
        clock: Callable[[], float],
        model: str | None = None,
        kind: SessionType = "realtime",
        transport: Transport = "websocket",
        max_session_seconds: float = MAX_SESSION_SECONDS,
        speculative: bool = True,
        limits: ConversationLimits | None = None,
    ) -> None:
        resolve_realtime_model(model)  # the transport checked it; this guards direct use
        self.clock = clock
        self.transport: Transport = transport
        # Draft each VAD turn during its silence window (see protocol.user_turns).
        self.speculative = speculative
        self.id = new_id("sess")
        self._conversation_id = new_id("conv")
        self._started = clock()
        self._deadline = self._started + max_session_seconds
        self.settings = SessionSettings(
            default_session(
                kind,
                model=model or DEFAULT_MODEL,
                session_id=self.id,
                expires_at=int(time.time() + max_session_seconds),
            )
        )
        self.conversation = Conversation(limits)
        self.input = InputAudio(vad, vad_rate, vad_frame_samples)
        self.turns = UserTurns(self)
        self.responses: dict[str, ResponseState] = {}
        self.turn_timings: list[TurnTiming] = []
        self.closed = False
        self._events: list[ServerEvent] = []
        self._commands: list[cmd.Command] = []
        self._voice_locked = False
        self._idle_deadline: float | None = None
        self._rate_limits: list[dict[str, Any]] | None = None
        self._pending_specs: dict[str, RequestSpec] = {}
        self._apply_turn_detection()
        self.emit(event("session.created", session=self.settings.render()))

    # --- outputs -------------------------------------------------------------------------

    def emit(self, *events: ServerEvent) -> None:
        self._events.extend(events)

    def command(self, command: cmd.Command) -> None:
        self._commands.append(command)

    def events_to_send(self) -> list[ServerEvent]:
        out, self._events = self._events, []
        return out

    def commands(self) -> list[cmd.Command]:
        out, self._commands = self._commands, []
        return out

    # --- inputs --------------------------------------------------------------------------

    def receive_text(self, text: str | bytes) -> None:
        """One client message (WebSocket text frame or data-channel message)."""
        if not self._check_alive():
            return
        parsed = ce.parse_client_event(text)
        if isinstance(parsed, ce.ParseError):
            self.emit(
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
            self.emit(exc.to_event(ev.event_id))

    def receive_audio(self, pcm: bytes, sample_rate: int) -> None:
        """Raw s16le mono from a media track (WebRTC); same path as buffer appends."""
        if not self._check_alive():
            return
        try:
            self._append(pcm16_to_float(pcm), sample_rate)
        except ProtocolError as exc:
            self.emit(exc.to_event(None))

    def tick(self) -> None:
        """Let time pass: session expiry and the idle timeout read the clock here."""
        if not self._check_alive():
            return
        if self._idle_deadline is not None and self.clock() >= self._idle_deadline:
            self._idle_deadline = None
            self.turns.idle_timeout()

    def next_deadline(self) -> float | None:
        """When `tick` next has work to do (clock time), for the runner's timer."""
        if self.closed:
            return None
        if self._idle_deadline is None:
            return self._deadline
        return min(self._deadline, self._idle_deadline)

    def close(self) -> None:
        """The client went away: stop all work. Emits no events (nobody is listening)."""
        if self.closed:
            return
        self.closed = True
        for response in list(self.responses.values()):
            if response.active:
                response.status = "cancelled"
                self.command(cmd.CancelResponse(response.id))
        self.responses.clear()
        self.command(cmd.CloseSession("closed"))

    def set_rate_limits(self, limits: list[dict[str, Any]]) -> None:
        """Limits known to the metering layer; sent now and after every response."""
        self._rate_limits = limits
        self.emit(event("rate_limits.updated", rate_limits=limits))

    def _check_alive(self) -> bool:
        if self.closed:
            return False
        if self.clock() < self._deadline:
            return True
        self.emit(
            ProtocolError(
                "session_expired",
                "Your session hit the maximum duration of 60 minutes.",
            ).to_event(None)
        )
        self.close()
        self._commands[-1] = cmd.CloseSession("expired")
        return False

    # --- client events -------------------------------------------------------------------

    def _dispatch(self, ev: ce.ClientEvent) -> None:
        if isinstance(ev, ce.SessionUpdate):
            before = self.settings.turn_detection
            self.settings.apply(ev.session, voice_locked=self._voice_locked)
            if self.settings.turn_detection != before:
                self._apply_turn_detection()
            self.emit(event("session.updated", session=self.settings.render()))
        elif isinstance(ev, ce.InputAudioBufferAppend):
            self._append_b64(ev.audio)
        elif isinstance(ev, ce.InputAudioBufferCommit):
            self.turns.commit_manual()
        elif isinstance(ev, ce.InputAudioBufferClear):
            self.turns.clear()
            self.emit(event("input_audio_buffer.cleared"))
        elif isinstance(ev, ce.OutputAudioBufferClear):
            self._clear_output()
        elif isinstance(ev, ce.ConversationItemCreate):
            self.turns.create_item(ev.item, ev.previous_item_id)
        elif isinstance(ev, ce.ConversationItemRetrieve):
            item = self.conversation.snapshot(ev.item_id)
            self.emit(event("conversation.item.retrieved", item=item))
        elif isinstance(ev, ce.ConversationItemTruncate):
            truncate(self, ev)
        elif isinstance(ev, ce.ConversationItemDelete):
            self.conversation.delete(ev.item_id)
            self.emit(event("conversation.item.deleted", item_id=ev.item_id))
        elif isinstance(ev, ce.ResponseCreate):
            self.create_response(ev.response)
        elif isinstance(ev, ce.ResponseCancel):
            self._cancel_requested(ev.response_id)

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
        too_large = ProtocolError(
            "input_audio_buffer_append_too_large",
            "An input_audio_buffer.append event may carry at most 15 MB of audio.",
            param="audio",
        )
        if len(audio) > (MAX_APPEND_BYTES + 3) * 4 // 3 + 8:
            raise too_large  # cheap check before decoding anything huge
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ProtocolError(
                "invalid_base64", "The 'audio' field is not valid base64.", param="audio"
            ) from exc
        if len(data) > MAX_APPEND_BYTES:
            raise too_large
        fmt = self.settings.input_format
        self._append(audio_formats.decode(data, fmt), audio_formats.format_rate(fmt))

    def _append(self, samples: np.ndarray, rate: int) -> None:
        signals = self.input.append(samples, rate)
        self._handle_signals(signals)
        if not self.turns.speaking and self.settings.turn_detection is not None:
            pad = int(self.settings.turn_detection.get("prefix_padding_ms") or 300)
            self.input.drop_before(self.input.now_ms - pad)

    def _handle_signals(self, signals: list[TurnSignal]) -> None:
        for signal in signals:
            if isinstance(signal, SpeechStarted):
                self._idle_deadline = None
                self.turns.speech_started(signal.start_ms)
            elif isinstance(signal, PauseStarted):
                self.turns.pause_started()
            elif isinstance(signal, SpeechResumed):
                self.turns.discard_draft()
            elif isinstance(signal, SilenceProbe):
                self.turns.request_partial()
            elif isinstance(signal, SpeechStopped):
                self.turns.speech_stopped(signal.end_ms)

    # --- responses -------------------------------------------------------------------------

    @property
    def active_response(self) -> ResponseState | None:
        """The response writing to the default conversation, if any."""
        for response in self.responses.values():
            if response.active and response.in_conversation:
                return response
        return None

    def create_response(
        self,
        config: ce.ResponseConfig | None,
        *,
        turn_ended_at: float | None = None,
        draft_id: str | None = None,
    ) -> None:
        if self.settings.kind == "transcription":
            raise ProtocolError(
                "invalid_request_error",
                "Transcription sessions do not create responses.",
                param="type",
            )
        config = config or ce.ResponseConfig()
        in_conversation = config.conversation in (None, "auto")
        if config.conversation not in (None, "auto", "none"):
            raise ProtocolError(
                "invalid_value", "conversation must be 'auto' or 'none'.", "response.conversation"
            )
        if in_conversation and self.active_response is not None:
            raise ProtocolError(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: "
                f"{self.active_response.id}. Wait until the response is finished before "
                "creating a new one.",
            )
        response, request_spec = build_request(self, config, in_conversation)
        response.turn_ended_at = turn_ended_at
        response.draft_id = draft_id
        self.responses[response.id] = response
        self._idle_deadline = None
        self.emit(response.created())
        response.waiting_for = {i for i in response.context_ids if i in self.turns.pending}
        self._pending_specs[response.id] = request_spec
        self._maybe_start(response)

    def _maybe_start(self, response: ResponseState) -> None:
        if not response.active or response.waiting_for:
            return
        spec = self._pending_specs.pop(response.id, None)
        if spec is not None:
            self.command(spec(response))

    def transcript_settled(self, item_id: str) -> None:
        for response in list(self.responses.values()):
            if item_id in response.waiting_for:
                response.waiting_for.discard(item_id)
                self._maybe_start(response)

    def cancel_response(self, response: ResponseState, reason: Reason) -> None:
        if not response.active:
            return
        self.command(cmd.CancelResponse(response.id))
        if self._pending_specs.pop(response.id, None) is not None and response.draft_id:
            # It never started, so no StartResponse will claim the draft's reply.
            self.command(cmd.DiscardDraft(response.draft_id, keep_transcript=True))
        if self.transport == "webrtc" and response.first_audio_at is not None:
            self.command(cmd.ClearAudio(response.id))
            self.emit(event("output_audio_buffer.cleared", response_id=response.id))
        self._finish(response, response.finish("cancelled", reason=reason))

    def _cancel_requested(self, response_id: str | None) -> None:
        if response_id is not None:
            response = self.responses.get(response_id)
            if response is None or not response.active:
                raise ProtocolError(
                    "response_cancel_not_active",
                    f"Response '{response_id[:64]}' is not active.",
                    param="response_id",
                )
        else:
            response = self.active_response or next(
                (r for r in self.responses.values() if r.active), None
            )
            if response is None:
                raise ProtocolError(
                    "response_cancel_not_active",
                    "Cancellation failed: no active response found.",
                )
        self.cancel_response(response, "client_cancelled")

    def _clear_output(self) -> None:
        if self.transport != "webrtc":
            raise ProtocolError(
                "invalid_request_error",
                "output_audio_buffer.clear is only supported for WebRTC sessions.",
                param="type",
            )
        for response in self.responses.values():
            if response.first_audio_at is not None:
                self.command(cmd.ClearAudio(response.id))
                self.emit(event("output_audio_buffer.cleared", response_id=response.id))

    def _finish(self, response: ResponseState, events: list[ServerEvent]) -> None:
        self.emit(*events)
        self.responses.pop(response.id, None)
        if self.transport == "webrtc" and response.first_audio_at is not None:
            self.emit(event("output_audio_buffer.stopped", response_id=response.id))
        if self._rate_limits is not None:
            self.emit(event("rate_limits.updated", rate_limits=self._rate_limits))
        self.turns.response_finished(response)

    def set_idle_deadline(self, deadline: float | None) -> None:
        self._idle_deadline = deadline

    # --- results from the runner -----------------------------------------------------------

    def _live(self, response_id: str) -> ResponseState | None:
        response = self.responses.get(response_id)
        return response if response is not None and response.active else None

    def on_partial_transcript(self, item_id: str, text: str) -> None:
        if self.input.detector is not None and self.turns.current_item_id == item_id:
            self.input.detector.set_completeness(completeness(text))

    def on_draft_transcript(self, draft_id: str, text: str) -> None:
        self.turns.draft_transcript(draft_id, text)

    def on_draft_failed(self, draft_id: str, code: str, message: str) -> None:
        self.turns.draft_failed(draft_id, code, message)

    def on_transcript_delta(self, item_id: str, delta: str) -> None:
        self.turns.transcript_delta(item_id, delta)

    def on_transcript_done(self, item_id: str, text: str, audio_seconds: float) -> None:
        self.turns.transcript_done(item_id, text, audio_seconds)

    def on_transcript_failed(self, item_id: str, code: str, message: str) -> None:
        self.turns.transcript_failed(item_id, code, message)

    def on_response_text(self, response_id: str, text: str) -> None:
        response = self._live(response_id)
        if response is not None and text:
            self.emit(*response.text_delta(text))

    def on_response_sentence(self, response_id: str, text: str) -> None:
        response = self._live(response_id)
        if response is not None and text:
            self.emit(*response.sentence(text))

    def on_response_audio(self, response_id: str, chunk: AudioChunk) -> None:
        response = self._live(response_id)
        if response is None:
            return
        fmt = response.output_format
        rate = audio_formats.format_rate(fmt)
        if response.resampler is None:
            response.resampler = StreamResampler(chunk.sample_rate, rate)
        self._send_audio(response, response.resampler.process(pcm16_to_float(chunk.pcm)))

    def _send_audio(self, response: ResponseState, samples: np.ndarray) -> None:
        if samples.size == 0:
            return
        fmt = response.output_format
        rate = audio_formats.format_rate(fmt)
        now = self.clock()
        if response.first_audio_at is None:
            response.first_audio_at = now
            self._voice_locked = True
            if response.turn_ended_at is not None:
                self.turn_timings.append(TurnTiming(response.id, now - response.turn_ended_at))
            if self.transport == "webrtc":
                self.emit(event("output_audio_buffer.started", response_id=response.id))
        duration_ms = samples.size * 1000 / rate
        if self.transport == "webrtc":
            self.emit(*response.audio_delta("", duration_ms))
            pcm = audio_formats.encode(samples, "audio/pcm")
            self.command(cmd.PlayAudio(response.id, pcm, rate))
        else:
            wire = audio_formats.encode(samples, fmt)
            self.emit(*response.audio_delta(base64.b64encode(wire).decode(), duration_ms))

    def on_response_tool_call(
        self, response_id: str, call_id: str, name: str, arguments_delta: str
    ) -> None:
        response = self._live(response_id)
        if response is not None:
            self.emit(*response.tool_call_delta(call_id, name, arguments_delta))

    def on_response_done(self, response_id: str, finish_reason: str, usage: TokenUsage) -> None:
        response = self._live(response_id)
        if response is None:
            return
        if response.resampler is not None:
            self._send_audio(response, response.resampler.flush())
        if finish_reason == "length":
            events = response.finish("incomplete", reason="max_output_tokens", usage=usage)
        else:
            events = response.finish("completed", usage=usage)
        self._finish(response, events)

    def on_response_failed(self, response_id: str, code: str, message: str) -> None:
        """An engine failed; the client sees a failed response, the session goes on."""
        response = self._live(response_id)
        if response is None:
            return
        error = {"type": "server_error", "code": code, "message": message}
        self._finish(response, response.finish("failed", error=error))
