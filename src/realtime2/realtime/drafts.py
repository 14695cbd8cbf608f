"""Speculative drafts of a turn, run while the VAD silence window is still open.

A draft is two tasks: the transcript of the turn so far, and (when the session would answer
the turn) the reply to it, generated and synthesised into a `DraftOut` that records
everything instead of telling the session. When the session's `StartResponse` names the
draft and asks for exactly the request the draft answered, the recording is replayed
under the real response id and the draft goes on live; anything else (the user kept
talking, the conversation or settings changed) cancels it, and not one event of it has
reached the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from realtime2.engine.interfaces import AudioChunk, TokenUsage
from realtime2.engine.pacing import Pacing
from realtime2.protocol.commands import ConfirmDraft, PrepareDraft, StartResponse, draft_request
from realtime2.realtime.respond import Pump, ResponseOut

Call = Callable[[ResponseOut], None]


class DraftOut:
    """Records a reply's output until `attach`, then forwards it as it comes."""

    def __init__(self) -> None:
        self._log: list[Call] = []
        self._live: ResponseOut | None = None
        self.audio_ready = False  # some audio was recorded before `attach`
        # The reply's pace: nobody hears the recording before `attach`, so none of it has
        # played yet however long ago it was voiced.
        self.pace = Pacing(heard=False)

    def _put(self, call: Call) -> None:
        if self._live is None:
            self._log.append(call)
        else:
            call(self._live)

    @property
    def recorded(self) -> int:
        return len(self._log)

    def attach(self, live: ResponseOut) -> None:
        self._live = live
        log, self._log = self._log, []
        for call in log:
            call(live)
        self.pace.play()

    def text(self, text: str) -> None:
        self._put(lambda out: out.text(text))

    def sentence(self, text: str) -> None:
        self._put(lambda out: out.sentence(text))

    def audio(self, chunk: AudioChunk) -> None:
        self.audio_ready = self.audio_ready or self._live is None
        self._put(lambda out: out.audio(chunk))

    def tool_call(self, call_id: str, name: str, arguments_delta: str) -> None:
        self._put(lambda out: out.tool_call(call_id, name, arguments_delta))

    def done(self, finish_reason: str, usage: TokenUsage) -> None:
        self._put(lambda out: out.done(finish_reason, usage))

    def failed(self, code: str, message: str, error_type: str = "server_error") -> None:
        self._put(lambda out: out.failed(code, message, error_type))


@dataclass
class RunningDraft:
    command: PrepareDraft
    transcript: asyncio.Task[str | None] | None = None  # result None: it failed
    # An early draft's: its pause (`ConfirmDraft`) to come, and the transcript of the
    # audio up to the fade that its reply may begin on (None: no guess was made).
    confirmation: asyncio.Future[ConfirmDraft] | None = None
    guess: asyncio.Task[str | None] | None = None
    # Set before the session hears of it: the session may claim the draft right away.
    text: str | None = None
    reply: asyncio.Task[None] | None = None
    out: DraftOut = field(default_factory=DraftOut)
    response_id: str | None = None  # set once adopted
    live_pump: Pump | None = None

    @property
    def id(self) -> str:
        return self.command.draft_id

    async def pump(self) -> None:
        """Back-pressure and flushing apply once the draft is live; before, nothing waits."""
        if self.live_pump is not None:
            await self.live_pump()

    def matches(self, start: StartResponse) -> bool:
        """Did this draft answer exactly the request the session now makes?"""
        reply = self.command.reply
        if reply is None or self.reply is None or self.text is None:
            return False
        return (
            draft_request(reply.history, self.text) == start.request
            and reply.voice == start.voice
            and reply.modality == start.modality
            and reply.speed == start.speed
        )

    @property
    def unconfirmed(self) -> bool:
        """An early draft whose pause has not come: its transcript would wait forever."""
        return self.confirmation is not None and not self.confirmation.done()

    def cancel(self, *, keep_transcript: bool = False) -> None:
        if self.reply is not None:
            self.reply.cancel()
        if self.guess is not None:
            self.guess.cancel()
        if (not keep_transcript or self.unconfirmed) and self.transcript is not None:
            self.transcript.cancel()
