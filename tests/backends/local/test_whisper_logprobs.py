"""Whisper returns one finite log-probability per token of its transcript (issue 23:
`include: ["item.input_audio_transcription.logprobs"]`)."""

from __future__ import annotations

import math

import pytest

from realtime2.engine.interfaces import STT
from tests.support.speech import speech

pytestmark = pytest.mark.models


async def test_logprobs_are_finite_and_one_per_token(stt: STT) -> None:
    assert stt.capabilities.logprobs
    audio = speech("What is the weather like in London today?", 16000)
    plain = await stt.transcribe(audio, language="en")
    assert plain.logprobs is None  # only when asked for
    scored = await stt.transcribe(audio, language="en", logprobs=True)
    assert scored.logprobs is not None
    assert scored.text == plain.text
    tokens = [t.token for t in scored.logprobs]
    assert "".join(tokens).strip() == scored.text  # one entry per token of the text
    assert len(tokens) >= len(scored.text.split())
    assert all(math.isfinite(t.logprob) and t.logprob <= 0 for t in scored.logprobs)
    assert all(bytes(t.bytes).decode() == t.token for t in scored.logprobs)
    # The model is confident of clean speech: the mean token probability is high.
    mean = sum(t.logprob for t in scored.logprobs) / len(tokens)
    assert mean > math.log(0.5), mean


async def test_logprobs_are_lower_for_a_wrong_transcript(stt: STT) -> None:
    from realtime2.backends.local.whisper_logprobs import token_logprobs

    audio = speech("Turn off the kitchen lights.", 16000)
    model = stt._model  # type: ignore[attr-defined]
    right = token_logprobs(model, audio, "Turn off the kitchen lights.", "en")
    wrong = token_logprobs(model, audio, "Order a pizza with cheese.", "en")
    assert sum(t.logprob for t in right) / len(right) > sum(t.logprob for t in wrong) / len(wrong)
