"""`include: ["item.input_audio_transcription.logprobs"]` puts the STT's per-token
log-probabilities into the transcription events, shaped as the SDK's `LogProbProperties`
(issue 23). Without it the events carry no `logprobs`."""

from __future__ import annotations

from typing import Any

from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness

LOGPROBS = [
    {"token": " Hi", "logprob": -0.1, "bytes": [32, 72, 105]},
    {"token": ".", "logprob": -0.5, "bytes": [46]},
]


def _turn(h: Harness, include: list[str] | None, speculative_pause: bool = True) -> Any:
    session: dict[str, Any] = {
        "type": "realtime",
        "audio": {"input": {"transcription": {"model": "whisper-1"}}},
    }
    if include is not None:
        session["include"] = include
    h.send({"type": "session.update", "session": session})
    for chunk in (silence(200), tone(600), silence(700)):
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})
    (transcribe,) = h.take(cmd.TranscribeTurn)
    return transcribe


def test_logprobs_go_into_delta_and_completed() -> None:
    h = Harness()
    transcribe = _turn(h, ["item.input_audio_transcription.logprobs"])
    assert transcribe.logprobs is True
    h.session.on_transcript_done(transcribe.item_id, "Hi.", 0.5, LOGPROBS)
    h.drain()  # the harness validates every event against the SDK's types
    (delta,) = h.of("conversation.item.input_audio_transcription.delta")
    (completed,) = h.of("conversation.item.input_audio_transcription.completed")
    assert delta["logprobs"] == LOGPROBS and completed["logprobs"] == LOGPROBS


def test_no_logprobs_unless_included() -> None:
    h = Harness()
    transcribe = _turn(h, None)
    assert transcribe.logprobs is False
    h.session.on_transcript_done(transcribe.item_id, "Hi.", 0.5)
    h.drain()
    (completed,) = h.of("conversation.item.input_audio_transcription.completed")
    assert "logprobs" not in completed


def test_logprobs_session_skips_speculative_drafts() -> None:
    """A draft's transcript has no scores, so such a session transcribes the committed turn."""
    h = Harness(speculative=True)
    _turn(h, ["item.input_audio_transcription.logprobs"])
    assert h.take(cmd.PrepareDraft) == []
