"""One playout queue for every media line: resampled per response, dropped per response."""

from __future__ import annotations

from realtime2.audio.playout import Playout


def test_audio_is_resampled_per_response_and_cleared_by_response() -> None:
    line = Playout(8000)
    line.play("a", bytes(2 * 24000), 24000)  # 1 s at 24 kHz
    line.finish("a")
    line.play("b", bytes(2 * 8000), 8000)  # 1 s at the line's own rate
    assert abs(line.queued_seconds - 2.0) < 0.01
    line.clear("a")
    assert abs(line.queued_seconds - 1.0) < 1e-9
    line.clear()
    assert line.queued_seconds == 0


def test_take_pads_with_silence_and_says_whether_it_was_audio() -> None:
    line = Playout(8000)
    line.play("a", b"\x01\x00" * 100, 8000)
    frame, had_audio = line.take(320)
    assert len(frame) == 320 and had_audio and frame[:200] == b"\x01\x00" * 100
    assert frame[200:] == bytes(120)
    assert line.take(320) == (bytes(320), False)
