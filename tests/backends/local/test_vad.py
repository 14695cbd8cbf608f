from __future__ import annotations

import numpy as np
import pytest

from realtime2.backends.local.webrtc_vad import WebRtcVAD
from realtime2.engine.interfaces import VAD
from tests.support.speech import speech

pytestmark = pytest.mark.models

SPEECH = "The quick brown fox jumps over the lazy dog, and then runs far away."


def frames(audio: np.ndarray, size: int) -> list[np.ndarray]:
    return [audio[i : i + size] for i in range(0, audio.size - size + 1, size)]


def probabilities(vad: VAD, audio: np.ndarray) -> np.ndarray:
    stream = vad.new_stream()
    return np.array(
        [stream.speech_probability(f) for f in frames(audio, vad.capabilities.frame_samples)]
    )


def test_silero_speech_vs_silence_and_noise(silero: VAD) -> None:
    assert silero.capabilities.frame_samples == 512 and silero.capabilities.sample_rate == 16000
    talk = speech(SPEECH, 16000)[2400:-2400]  # drop the padding silence
    p_speech = probabilities(silero, talk)
    assert np.mean(p_speech > 0.5) > 0.7
    p_silence = probabilities(silero, np.zeros(16000, np.float32))
    assert p_silence.max() < 0.1
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(32000)).astype(np.float32)
    assert np.mean(probabilities(silero, noise) > 0.5) < 0.05


def test_silero_streams_are_independent(silero: VAD) -> None:
    talk = speech(SPEECH, 16000)[2400:-2400]
    a, b = silero.new_stream(), silero.new_stream()
    fs = frames(talk, 512)
    pa = [a.speech_probability(f) for f in fs]
    # Interleave a silent stream: it must not disturb stream a's state.
    pb = []
    a.reset()
    for f in fs:
        pb.append(a.speech_probability(f))
        b.speech_probability(np.zeros(512, np.float32))
    assert np.allclose(pa, pb, atol=1e-5)


def test_silero_rejects_wrong_frame_size(silero: VAD) -> None:
    with pytest.raises(ValueError, match="512"):
        silero.new_stream().speech_probability(np.zeros(480, np.float32))


def test_webrtc_speech_vs_silence() -> None:
    vad = WebRtcVAD(mode=2)
    talk = speech(SPEECH, 16000)[2400:-2400]
    assert np.mean(probabilities(vad, talk) > 0.5) > 0.6
    assert probabilities(vad, np.zeros(16000, np.float32)).max() == 0.0
