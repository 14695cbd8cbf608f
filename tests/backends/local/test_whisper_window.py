"""The short-window whisper path: same words as the full path, and it knows when to give up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from realtime2.backends.local import whisper_window
from realtime2.backends.local.models import default_whisper_dir
from realtime2.backends.local.whisper_stt import WhisperSTT
from realtime2.backends.local.whisper_window import transcribe_short, window_frames
from tests.support.speech import speech
from tests.support.wer import wer

QUESTIONS = (
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Can you recommend a good book to read on a rainy afternoon?",
)


def test_window_is_the_clip_plus_trailing_silence() -> None:
    assert window_frames(2.0) == 1000
    assert window_frames(2.005) == 1002  # rounded up to an even frame count
    assert window_frames(25.0) == 3000  # never beyond whisper's 30 s


@pytest.fixture(scope="module")
def model() -> Any:
    import faster_whisper

    return faster_whisper.WhisperModel(
        str(default_whisper_dir()), device="cpu", compute_type="int8", cpu_threads=1
    )


@pytest.mark.models
@pytest.mark.parametrize("text", QUESTIONS)
def test_short_window_hears_real_speech(model: Any, text: str) -> None:
    heard = transcribe_short(model, speech(text), language="en", prompt=None, beam_size=1)
    assert heard is not None, "the short path gave up on clean speech"
    assert wer(text, heard) <= 0.1, heard


@pytest.mark.models
def test_silence_is_left_to_the_full_path(model: Any) -> None:
    # On a short window whisper says "you" to silence; the full path says nothing.
    silence = np.zeros(32000, np.float32)
    assert transcribe_short(model, silence, language="en", prompt=None, beam_size=1) is None


@pytest.mark.models
def test_long_clip_is_left_to_the_full_path(model: Any) -> None:
    long = np.zeros(int(16000 * (whisper_window.MAX_CLIP_S + 1)), np.float32)
    assert transcribe_short(model, long, language="en", prompt=None, beam_size=1) is None


@pytest.mark.models
def test_a_looping_decode_is_caught(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # With half a second of trailing silence whisper repeats the sentence until cut off:
    # the guard must refuse that text rather than return it.
    monkeypatch.setattr(whisper_window, "TRAILING_SILENCE_S", 0.5)
    clip = speech("What do bees make?")
    assert transcribe_short(model, clip, language="en", prompt=None, beam_size=1) is None


@pytest.mark.models
async def test_stt_gives_the_same_words_either_way(model: Any) -> None:
    fast = WhisperSTT(model, name="tiny.en", short_window=True)
    full = WhisperSTT(model, name="tiny.en", short_window=False)
    try:
        for text in QUESTIONS:
            clip = speech(text)
            short_text = (await fast.transcribe(clip)).text
            full_text = (await full.transcribe(clip)).text
            assert wer(full_text, short_text) == 0.0, (short_text, full_text)
        assert (await fast.transcribe(np.zeros(16000, np.float32))).text.strip() in ("", "you")
    finally:
        fast.close()
        full.close()


@pytest.mark.models
def test_a_run_may_stop_between_its_encoder_and_its_decoder(model: Any) -> None:
    """A discarded draft's transcript: `between` runs once the encoder is done and may
    raise; the decoder then never starts."""
    calls: list[str] = []

    def stop() -> None:
        calls.append("between")
        raise RuntimeError("nobody waits")

    with pytest.raises(RuntimeError, match="nobody waits"):
        transcribe_short(
            model, speech(QUESTIONS[0]), language="en", prompt=None, beam_size=1, between=stop
        )
    assert calls == ["between"]
    heard = transcribe_short(
        model,
        speech(QUESTIONS[0]),
        language="en",
        prompt=None,
        beam_size=1,
        between=lambda: calls.append("went on"),
    )
    assert calls == ["between", "went on"]
    assert heard is not None and wer(QUESTIONS[0], heard) <= 0.1, heard
