"""Reply audio is resampled once: to the output format for events, not at all for a track.

A media track (WebRTC) resamples to its own 48 kHz, so the session hands it the TTS's audio
at the TTS's rate instead of detouring through the 24 kHz (or 8 kHz g711) event format.
"""

from __future__ import annotations

import base64

from realtime2.engine.interfaces import AudioChunk, TokenUsage
from realtime2.protocol import commands as cmd
from tests.support.fakes import pcm16, tone
from tests.support.harness import Harness

TTS_RATE = 22050


def _speak(h: Harness, ms: int = 500) -> tuple[str, bytes]:
    h.send({"type": "response.create"})
    (start,) = h.take(cmd.StartResponse)
    pcm = pcm16(tone(ms, TTS_RATE))
    h.session.on_response_sentence(start.response_id, "Hello.")
    h.session.on_response_audio(start.response_id, AudioChunk(pcm, TTS_RATE))
    h.session.on_response_done(start.response_id, "stop", TokenUsage())
    h.drain()
    return start.response_id, pcm


def test_a_media_track_gets_the_tts_audio_at_the_tts_rate() -> None:
    h = Harness(audio_out="media_track")
    # Even with g711 asked for, the track is not fed through 8 kHz.
    g711 = {"output": {"format": {"type": "audio/pcmu"}}}
    h.send({"type": "session.update", "session": {"type": "realtime", "audio": g711}})
    response_id, pcm = _speak(h)
    plays = h.take(cmd.PlayAudio)
    assert {p.sample_rate for p in plays} == {TTS_RATE}
    assert {p.response_id for p in plays} == {response_id}
    assert b"".join(p.pcm for p in plays) == pcm
    assert h.of("output_audio_buffer.started") and not h.of("response.output_audio.delta")


def test_events_carry_the_output_format_rate() -> None:
    h = Harness()
    _speak(h)
    assert not h.take(cmd.PlayAudio)
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in h.of("response.output_audio.delta") if e["delta"]
    )
    assert abs(len(audio) / 2 - 24000 * 0.5) <= 2  # 500 ms at 24 kHz pcm16
