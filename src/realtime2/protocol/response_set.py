"""The session's responses: which are live, when each may start, and where its audio goes.

`Responses` receives the settings, the conversation and the outbox, plus the `audio_out`
mode, and knows nothing of the session that owns it. Its methods that can end a response
return it, so the owner can react (the idle timeout restarts after each response); the
clock comes in as `now` arguments, never read here.

`audio_out` says how reply audio leaves: `"events"` as base64 `response.output_audio.delta`
events (WebSocket), `"media_track"` as `PlayAudio` commands for an outgoing media track
(WebRTC, which also gets the `output_audio_buffer.*` events and may clear queued audio).
Events carry the output format's rate (one stream resampler per response); `PlayAudio`
carries the TTS's own rate, so the track resamples once, straight to its 48 kHz.

A response that called MCP tools does not finish when its LLM pass does: the calls run
(`CallMcpTool`), and once all are answered the same response starts another pass over
the conversation with their results (its request rebuilt by the same spec).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from realtime2.audio.pcm import pcm16_to_float
from realtime2.audio.resample import StreamResampler
from realtime2.engine.interfaces import AudioChunk, TokenUsage
from realtime2.protocol import audio_formats
from realtime2.protocol import client_events as ce
from realtime2.protocol import commands as cmd
from realtime2.protocol.conversation import Conversation
from realtime2.protocol.outbox import Outbox
from realtime2.protocol.requests import RequestSpec, build_request
from realtime2.protocol.responses import Reason, ResponseState
from realtime2.protocol.server_events import ProtocolError, ServerEvent, event
from realtime2.protocol.session_config import SessionSettings

AudioOut = Literal["events", "media_track"]


@dataclass(frozen=True)
class TurnTiming:
    """From the end of the user's turn (speech_stopped) to the first audio of the reply."""

    response_id: str
    seconds: float


class Responses:
    def __init__(
        self,
        settings: SessionSettings,
        conversation: Conversation,
        outbox: Outbox,
        audio_out: AudioOut,
    ) -> None:
        self._settings = settings
        self._conversation = conversation
        self._out = outbox
        self._media_track = audio_out == "media_track"
        self._live: dict[str, ResponseState] = {}
        self._specs: dict[str, RequestSpec] = {}  # responses still waiting to start
        self._passes: dict[str, RequestSpec] = {}  # started: the next pass after MCP calls
        self.turn_timings: list[TurnTiming] = []
        self.voice_locked = False  # set by the first audio: the voice may not change after
        self.rate_limits: list[dict[str, Any]] | None = None

    def __len__(self) -> int:
        return len(self._live)

    @property
    def active(self) -> ResponseState | None:
        """The response writing to the default conversation, if any."""
        for response in self._live.values():
            if response.active and response.in_conversation:
                return response
        return None

    def producing(self, item_id: str) -> list[ResponseState]:
        """Active responses with `item_id` among their output."""
        return [
            r for r in self._live.values() if r.active and any(o["id"] == item_id for o in r.output)
        ]

    # --- creating and starting -------------------------------------------------------------

    def create(
        self,
        config: ce.ResponseConfig | None,
        *,
        pending: set[str],
        turn_ended_at: float | None = None,
        draft_id: str | None = None,
    ) -> None:
        """Open a response; it starts once no item of its context is in `pending` (items
        whose transcript is still coming)."""
        if self._settings.kind == "transcription":
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
        active = self.active
        if in_conversation and active is not None:
            raise ProtocolError(
                "conversation_already_has_active_response",
                "Conversation already has an active response in progress: "
                f"{active.id}. Wait until the response is finished before "
                "creating a new one.",
            )
        response, request_spec = build_request(
            self._settings, self._conversation, config, in_conversation
        )
        response.turn_ended_at = turn_ended_at
        response.draft_id = draft_id
        self._live[response.id] = response
        self._out.emit(response.created())
        if self.rate_limits is not None:  # OpenAI sends them as each response begins
            self._out.emit(event("rate_limits.updated", rate_limits=self.rate_limits))
        response.waiting_for = {i for i in response.context_ids if i in pending}
        self._specs[response.id] = request_spec
        self._maybe_start(response)

    def start_ready(self, pending: set[str], failures: Mapping[str, tuple[str, str]]) -> None:
        """Transcripts settled: start the responses no longer waiting for any. A response
        whose user audio could not be transcribed (`failures`: item -> code, message)
        fails instead: the LLM hears through the transcript, and would answer without the
        words it was asked to answer."""
        for response in list(self._live.values()):
            settled = response.waiting_for - pending
            if not settled:
                continue
            response.waiting_for &= pending
            unheard = sorted(i for i in settled if i in failures)
            if unheard and response.active and response.id in self._specs:
                self._fail_unheard(response, unheard[0], *failures[unheard[0]])
            else:
                self._maybe_start(response)

    def _fail_unheard(self, response: ResponseState, item_id: str, code: str, message: str) -> None:
        del self._specs[response.id]
        if response.draft_id:  # its reply was drafted from no words: never to be claimed
            self._out.command(cmd.DiscardDraft(response.draft_id, keep_transcript=True))
        error = {
            "type": "transcription_error",
            "code": code,
            "message": f"The user's audio in item {item_id} could not be transcribed "
            f"({message}), so there is nothing to answer.",
        }
        self._finish(response, response.finish("failed", error=error))

    def _maybe_start(self, response: ResponseState) -> None:
        if not response.active or response.waiting_for:
            return
        spec = self._specs.pop(response.id, None)
        if spec is None:
            return
        self._passes[response.id] = spec
        for request, server in self._settings.mcp.approved(
            self._conversation, response.context_ids
        ):
            self._out.emit(*response.approved_call(request, server))
        if response.mcp_waiting:
            self._run_calls(response)
        else:
            self._out.command(spec(response))

    def _run_calls(self, response: ResponseState) -> None:
        events, calls = response.run_calls()
        self._out.emit(*events)
        self._out.command(*calls)
        if not response.mcp_running:  # none could run: go on at once
            self._out.command(self._passes[response.id](response))

    def mcp_call_done(
        self, response_id: str, item_id: str, output: str | None, error: dict[str, Any] | None
    ) -> None:
        response = self._get(response_id)
        if response is None or item_id not in response.mcp_running:
            return
        self._out.emit(*response.call_done(item_id, output, error))
        if not response.mcp_running:
            self._out.command(self._passes[response.id](response))

    # --- ending ------------------------------------------------------------------------------

    def cancel(self, response: ResponseState, reason: Reason) -> bool:
        """Cancel an active response; True when it was (and so has finished)."""
        if not response.active:
            return False
        self._out.command(cmd.CancelResponse(response.id))
        if self._specs.pop(response.id, None) is not None and response.draft_id:
            # It never started, so no StartResponse will claim the draft's reply.
            self._out.command(cmd.DiscardDraft(response.draft_id, keep_transcript=True))
        if self._media_track and response.first_audio_at is not None:
            self._out.command(cmd.ClearAudio(response.id))
            self._out.emit(event("output_audio_buffer.cleared", response_id=response.id))
        self._finish(response, response.finish("cancelled", reason=reason))
        return True

    def to_cancel(self, response_id: str | None) -> ResponseState:
        """The response a `response.cancel` names (or the one running); raises if none."""
        if response_id is not None:
            response = self._live.get(response_id)
            if response is None or not response.active:
                raise ProtocolError(
                    "response_cancel_not_active",
                    f"Response '{response_id[:64]}' is not active.",
                    param="response_id",
                )
            return response
        response = self.active or next((r for r in self._live.values() if r.active), None)
        if response is None:
            raise ProtocolError(
                "response_cancel_not_active",
                "Cancellation failed: no active response found.",
            )
        return response

    def clear_output(self) -> None:
        """`output_audio_buffer.clear`: drop queued audio of every response that has some."""
        if not self._media_track:
            raise ProtocolError(
                "invalid_request_error",
                "output_audio_buffer.clear is only supported for WebRTC sessions.",
                param="type",
            )
        for response in self._live.values():
            if response.first_audio_at is not None:
                self._out.command(cmd.ClearAudio(response.id))
                self._out.emit(event("output_audio_buffer.cleared", response_id=response.id))

    def stop_all(self) -> None:
        """The session ended: stop every active response's work, telling nobody."""
        for response in list(self._live.values()):
            if response.active:
                response.status = "cancelled"
                self._out.command(cmd.CancelResponse(response.id))
        self._live.clear()
        self._passes.clear()

    def _finish(self, response: ResponseState, events: list[ServerEvent]) -> None:
        self._out.emit(*events)
        self._live.pop(response.id, None)
        self._passes.pop(response.id, None)
        if self._media_track and response.first_audio_at is not None:
            self._out.emit(event("output_audio_buffer.stopped", response_id=response.id))

    # --- results from the runner -----------------------------------------------------------

    def _get(self, response_id: str) -> ResponseState | None:
        response = self._live.get(response_id)
        return response if response is not None and response.active else None

    def text(self, response_id: str, text: str) -> None:
        response = self._get(response_id)
        if response is not None and text:
            self._out.emit(*response.text_delta(text))

    def sentence(self, response_id: str, text: str) -> None:
        response = self._get(response_id)
        if response is not None and text:
            self._out.emit(*response.sentence(text))

    def audio(self, response_id: str, chunk: AudioChunk, now: float) -> None:
        response = self._get(response_id)
        if response is None:
            return
        if self._media_track:
            # At the TTS's rate: the track resamples once, straight to its own rate.
            self._send_audio(response, pcm16_to_float(chunk.pcm), chunk.sample_rate, now)
            return
        rate = audio_formats.format_rate(response.output_format)
        if response.resampler is None:
            response.resampler = StreamResampler(chunk.sample_rate, rate)
        samples = response.resampler.process(pcm16_to_float(chunk.pcm))
        self._send_audio(response, samples, rate, now)

    def _send_audio(
        self, response: ResponseState, samples: np.ndarray, rate: int, now: float
    ) -> None:
        if samples.size == 0:
            return
        if response.first_audio_at is None:
            response.first_audio_at = now
            self.voice_locked = True
            if response.turn_ended_at is not None:
                self.turn_timings.append(TurnTiming(response.id, now - response.turn_ended_at))
            if self._media_track:
                self._out.emit(event("output_audio_buffer.started", response_id=response.id))
        duration_ms = samples.size * 1000 / rate
        if self._media_track:
            self._out.emit(*response.audio_delta("", duration_ms))
            pcm = audio_formats.encode(samples, "audio/pcm")
            self._out.command(cmd.PlayAudio(response.id, pcm, rate))
        else:
            wire = audio_formats.encode(samples, response.output_format)
            self._out.emit(*response.audio_delta(base64.b64encode(wire).decode(), duration_ms))

    def tool_call(self, response_id: str, call_id: str, name: str, arguments_delta: str) -> None:
        response = self._get(response_id)
        if response is not None:
            self._out.emit(*response.tool_call_delta(call_id, name, arguments_delta))

    def done(
        self, response_id: str, finish_reason: str, usage: TokenUsage, now: float
    ) -> ResponseState | None:
        """The engines finished; returns the response when it was still live."""
        response = self._get(response_id)
        if response is None:
            return None
        usage = response.usage = TokenUsage(
            response.usage.input_tokens + usage.input_tokens,
            response.usage.output_tokens + usage.output_tokens,
            response.usage.cached_tokens + usage.cached_tokens,
        )
        if response.mcp_waiting:  # MCP calls to make, then another pass
            self._run_calls(response)
            return None
        if response.resampler is not None:
            rate = response.resampler.dst_rate
            self._send_audio(response, response.resampler.flush(), rate, now)
        if finish_reason == "length" and response.client_limit:
            # The client's own max_output_tokens. The engine's cap (what "inf" gets, shown
            # in session.created) ends the reply as completed: the client set no limit.
            events = response.finish("incomplete", reason="max_output_tokens", usage=usage)
        else:
            events = response.finish("completed", usage=usage)
        self._finish(response, events)
        return response

    def failed(
        self, response_id: str, code: str, message: str, error_type: str = "server_error"
    ) -> ResponseState | None:
        """An engine failed: the client sees a failed response, the session goes on."""
        response = self._get(response_id)
        if response is None:
            return None
        error = {"type": error_type, "code": code, "message": message}
        self._finish(response, response.finish("failed", error=error))
        return response
