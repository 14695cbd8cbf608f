"""Noise suppressors for `audio.input.noise_reduction`, measured the way the session uses them.

    .venv/bin/python -m bench.noise_reduction [--snr 5] [--noise-seconds 30]

Each candidate runs as a stream on 16 kHz audio in 20 ms chunks (what a realtime client
sends), before Silero VAD and faster-whisper tiny.en, exactly where the session runs it.
For each it reports:

- **false VAD triggers**: speech starts (VAD probability >= 0.5 for >= 96 ms, separated
  by >= 500 ms below) on noise alone, with Silero and with WebRTC VAD (mode 2): pink
  noise, a 100 Hz hum with harmonics, and babble (six Piper sentences overlaid); and the
  **speech fraction**, the share of that noise the VAD calls speech;
- **WER** of whisper on eight sentences with each noise mixed in at `--snr` dB;
- **CPU seconds per second of audio** (process time, single thread).

Writes `bench/results/noise_reduction.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tests.support.speech import speech
from tests.support.wer import wer

RATE = 16000
CHUNK = 320  # 20 ms
SENTENCES = (
    "What is the weather like in Paris today?",
    "Please set a timer for ten minutes.",
    "How many legs does a spider have?",
    "Turn off the lights in the kitchen.",
    "Remind me to call my mother tomorrow morning.",
    "What is the capital city of Australia?",
    "Play some quiet music for studying.",
    "How far away is the moon from the earth?",
)
BABBLE = (
    "The committee met on Tuesday to discuss the budget for next year.",
    "She walked along the river until the sun went down behind the hills.",
    "Our train was delayed by an hour because of the storm last night.",
    "They planted tomatoes, beans and carrots in the garden this spring.",
    "The museum opens at nine and closes early on Sundays and holidays.",
    "He forgot his umbrella at the office and got completely soaked.",
)


def unit_peak(x: np.ndarray) -> np.ndarray:
    """`x` scaled so its loudest sample is ±1, as float32."""
    scaled: np.ndarray = (x / np.abs(x).max()).astype(np.float32)
    return scaled


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size)
    f[0] = 1
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    return unit_peak(x)


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    x = sum(np.sin(2 * np.pi * 100 * k * t) / k for k in range(1, 6))
    x = x + 0.3 * rng.standard_normal(n)
    return unit_peak(x)


def babble(n: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n, np.float32)
    for text in BABBLE:
        clip = speech(text, RATE)
        reps = np.tile(clip, n // clip.size + 2)
        start = int(rng.integers(0, clip.size))
        out += reps[start : start + n]
    return unit_peak(out)


NOISES: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "pink": pink,
    "hum": hum,
    "babble": babble,
}


# --- candidates: each makes a stream (feed float32 chunk -> float32 out) ------------------


class Passthrough:
    def process(self, x: np.ndarray) -> np.ndarray:
        return x


class Speex:
    """speexdsp's preprocessor noise suppression (speexdsp-ns), 10 ms frames."""

    def __init__(self, mix: float = 1.0) -> None:
        import speexdsp_ns

        self._ns = speexdsp_ns.NoiseSuppression.create(160, RATE)
        self._rest = np.zeros(0, np.int16)
        self._mix = mix

    def process(self, x: np.ndarray) -> np.ndarray:
        ints = np.concatenate([self._rest, np.clip(x * 32768, -32768, 32767).astype(np.int16)])
        n = ints.size // 160 * 160
        self._rest = ints[n:]
        # The binding processes exactly one frame per call.
        frames = [self._ns.process(ints[i : i + 160].tobytes()) for i in range(0, n, 160)]
        out = np.frombuffer(b"".join(frames), np.int16).astype(np.float32) / 32768
        return self._mix * out + (1 - self._mix) * ints[:n].astype(np.float32) / 32768


class RNNoise:
    """RNNoise (pyrnnoise's librnnoise), 10 ms frames at 48 kHz."""

    def __init__(self, mix: float = 1.0) -> None:
        from pyrnnoise import rnnoise

        from realtime2.audio.resample import StreamResampler

        self._rn = rnnoise
        self._state = rnnoise.create()
        self._up = StreamResampler(RATE, 48000)
        self._down = StreamResampler(48000, RATE)
        self._rest = np.zeros(0, np.float32)
        self._mix = mix

    def process(self, x: np.ndarray) -> np.ndarray:
        import ctypes

        up = np.concatenate([self._rest, self._up.process(x) * 32768]).astype(np.float32)
        n = up.size // 480 * 480
        self._rest = up[n:]
        frames = up[:n].copy()
        lib = self._rn.lib
        for i in range(0, n, 480):
            view = frames[i : i + 480]
            ptr = view.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            lib.rnnoise_process_frame(self._state, ptr, ptr)
        wet = frames / 32768
        dry = up[:n] / 32768
        mixed = (self._mix * wet + (1 - self._mix) * dry).astype(np.float32)
        return self._down.process(mixed)


class SpectralGate:
    """noisereduce's non-stationary spectral gating, on 0.5 s blocks (it is not streaming)."""

    def __init__(self) -> None:
        import noisereduce

        self._nr = noisereduce
        self._rest = np.zeros(0, np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self._rest, x])
        block = RATE // 2
        if buf.size < block:
            self._rest = buf
            return np.zeros(0, np.float32)
        self._rest = np.zeros(0, np.float32)
        out = self._nr.reduce_noise(y=buf, sr=RATE, stationary=False, n_jobs=1)
        return np.asarray(out, np.float32)


CANDIDATES: dict[str, Callable[[], Any]] = {
    "none": Passthrough,
    "speexdsp-ns": Speex,
    "speexdsp-ns-mix0.5": lambda: Speex(0.5),
    "rnnoise": RNNoise,
    "rnnoise-mix0.5": lambda: RNNoise(0.5),
    "noisereduce": SpectralGate,
}


def run_stream(make: Callable[[], Any], audio: np.ndarray) -> tuple[np.ndarray, float]:
    stream = make()
    outs = []
    start = time.process_time()
    for i in range(0, audio.size, CHUNK):
        outs.append(stream.process(audio[i : i + CHUNK]))
    cpu = time.process_time() - start
    return np.concatenate(outs) if outs else audio[:0], cpu


def vad_triggers(vad: Any, audio: np.ndarray) -> tuple[int, float]:
    """Speech starts (probability >= 0.5 for >= ~96 ms, apart by >= 500 ms below it), and
    the fraction of the time the VAD calls speech (a start that never ends counts once)."""
    stream = vad.new_stream()
    frame = vad.capabilities.frame_samples
    frame_ms = frame * 1000 / RATE
    need = max(1, round(96 / frame_ms))
    triggers, run, quiet, speaking = 0, 0, 100, False
    voiced = frames = 0
    for i in range(0, audio.size - frame + 1, frame):
        p = stream.speech_probability(audio[i : i + frame])
        frames += 1
        voiced += p >= 0.5
        if p >= 0.5:
            run += 1
            quiet = 0
            if run >= need and not speaking:
                triggers += 1
                speaking = True
        else:
            run = 0
            quiet += 1
            if quiet * frame_ms >= 500:
                speaking = False
    return triggers, round(voiced / max(1, frames), 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snr", type=float, default=5.0)
    parser.add_argument("--noise-seconds", type=float, default=30.0)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--level", type=float, default=0.1, help="noise peak for triggers")
    parser.add_argument("--out", default="noise_reduction.json")
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from faster_whisper import WhisperModel

    from realtime2.backends.local.models import default_silero_onnx, default_whisper_dir
    from realtime2.backends.local.silero_vad import SileroVAD
    from realtime2.backends.local.webrtc_vad import WebRtcVAD

    vad = SileroVAD.load(default_silero_onnx())
    webrtc = WebRtcVAD(mode=2)
    whisper = WhisperModel(
        str(default_whisper_dir()),
        device="cpu",
        compute_type="int8",
        cpu_threads=1,
        local_files_only=True,
    )
    rng = np.random.default_rng(7)
    n_noise = int(args.noise_seconds * RATE)
    noises = {name: make(n_noise, rng) * args.level for name, make in NOISES.items()}
    clean = [speech(s, RATE) for s in SENTENCES]

    def transcribe(x: np.ndarray) -> str:
        segments, _ = whisper.transcribe(
            x, language="en", beam_size=1, vad_filter=False, condition_on_previous_text=False
        )
        return " ".join(s.text.strip() for s in segments)

    results: dict[str, Any] = {}
    for name, make in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        row: dict[str, Any] = {"false_triggers": {}, "wer": {}}
        cpu_total, audio_total = 0.0, 0.0
        for noise_name, noise in noises.items():
            out, cpu = run_stream(make, noise)
            cpu_total += cpu
            audio_total += noise.size / RATE
            for label, detector in (("silero", vad), ("webrtcvad", webrtc)):
                triggers, fraction = vad_triggers(detector, out)
                row["false_triggers"].setdefault(label, {})[noise_name] = triggers
                row.setdefault("speech_fraction", {}).setdefault(label, {})[noise_name] = fraction
            errors = []
            for text, s in zip(SENTENCES, clean, strict=True):
                pad = np.zeros(RATE // 2, np.float32)
                s = np.concatenate([pad, s, pad])
                n = noise[: s.size]
                gain = np.sqrt(np.mean(s**2) / np.mean(n**2) / 10 ** (args.snr / 10))
                mixed = (s + gain * n).astype(np.float32)
                mixed /= max(1.0, float(np.abs(mixed).max()))
                den, cpu = run_stream(make, mixed)
                cpu_total += cpu
                audio_total += mixed.size / RATE
                errors.append(wer(text, transcribe(den)))
            row["wer"][noise_name] = round(float(np.mean(errors)), 3)
        clean_errors = [
            wer(t, transcribe(run_stream(make, s)[0]))
            for t, s in zip(SENTENCES, clean, strict=True)
        ]
        row["wer"]["clean"] = round(float(np.mean(clean_errors)), 3)
        row["cpu_s_per_audio_s"] = round(cpu_total / audio_total, 4)
        results[name] = row
        print(name, json.dumps(row), flush=True)

    summary = {
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "cores": os.cpu_count(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "snr_db": args.snr,
        "noise_peak": args.level,
        "noise_seconds_each": args.noise_seconds,
        "results": results,
    }
    path = Path(__file__).parent / "results" / args.out
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
