"""The six voices side by side: a listening test with figures.

    .venv/bin/python -m bench.voices [--runs 5] [--renditions 3] [--no-variants]

Renders the same passage in each voice with the local TTS (Piper `en_US-joe-medium`,
resynthesized per voice by WORLD, on one thread) to `bench/results/voices/<voice>.wav`,
plus plain joe (`joe.wav`) for reference, and measures per voice:

- median F0 of the rendering, by two estimators: the tests' autocorrelation
  (`tests/support/pitch.py`) and WORLD's Harvest at 16 kHz (50-500 Hz);
- spectral centroid (timbre: where the energy sits);
- first audio for a short clause (`synthesize()` called → first chunk, FIRST_AUDIO
  priority; median of `--runs`), and how much of it the voice's resynthesis adds over
  plain joe;
- real-time factor on one core: synthesis time / audio time over the passage;
- loudness: each sentence's speech level (dBFS) and the largest step between neighbours;
- whisper WER through the project's STT (median and worst of `--renditions`, since
  Piper's synthesis is random).

With variants (the default) it also times WORLD settings on the same Piper sentences (DIO
or Harvest for F0, 5 or 10 ms frames, D4C on every frame or every 4th) with their WER, and
the other routes that run here (espeak-ng through the project's backend; flite's female
`slt` voice if the Debian `flite` package is installed). Prints tables and writes
`bench/results/voices/voices.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tests.support.pitch import median_pitch, spectral_centroid
from tests.support.speech import write_wav
from tests.support.wer import wer

from realtime2.audio.pcm import pcm16_to_float
from realtime2.audio.resample import resample
from realtime2.backends.local.loudness import LevelTracker, speech_level_db
from realtime2.backends.local.models import default_piper_voice
from realtime2.backends.local.piper_tts import OUTPUT_RATE, PiperTTS
from realtime2.backends.local.voicing import BUILTIN_PROFILES, FEMALE, VoiceProfile
from realtime2.backends.local.world_vocoder import Reshape, reshape
from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import STT, TTS, Priority
from realtime2.engine.registry import build_stt
from realtime2.engine.voices import VOICES

PASSAGE = (
    "The quick brown fox jumps over the lazy dog. "
    "Could you call me back tomorrow morning? "
    "I would like a quiet table near the window."
)
SHORT = "Sure, I can help with that."
RESULTS = Path(__file__).resolve().parent / "results" / "voices"
# F0 method, frame period (ms), D4C on every n-th frame; the default is ("dio", 5.0, 4)
VARIANTS = (("dio", 5.0, 4), ("dio", 5.0, 1), ("dio", 10.0, 1), ("harvest", 5.0, 1))


def harvest_median(audio: np.ndarray, rate: int) -> float:
    import pyworld

    x = resample(audio, rate, 16000).astype(np.float64)
    f0, _ = pyworld.harvest(x, 16000, f0_floor=50.0, f0_ceil=500.0, frame_period=5.0)
    return float(np.median(f0[f0 > 0]))


async def sentences(tts: TTS, text: str, voice: str) -> list[np.ndarray]:
    """Each sentence of `text` as one array, synthesised one by one as a reply streams them
    (the local TTS may hand a sentence over in pieces, cut at its quiet moments)."""
    out = []
    for sentence in re.split(r"(?<=[.!?])\s+", text.strip()):
        chunks = [pcm16_to_float(c.pcm) async for c in tts.synthesize(sentence, voice=voice)]
        out.append(np.concatenate(chunks))
    return out


async def first_audio_once(tts: TTS, voice: str) -> float:
    started = time.perf_counter()
    async for _chunk in tts.synthesize(SHORT, voice=voice, priority=Priority.FIRST_AUDIO):
        break
    return time.perf_counter() - started


async def first_audio(tts: TTS, voice: str, runs: int) -> float:
    return statistics.median([await first_audio_once(tts, voice) for _ in range(runs)])


async def added_first_audio(tts: TTS, joe: TTS, voice: str, runs: int) -> tuple[float, float]:
    """Median first audio of `voice`, and the median of its excess over plain joe measured
    right before it: pairs cancel most of the drift of a machine others are using."""
    times, excess = [], []
    for _ in range(runs):
        plain = await first_audio_once(joe, voice)
        times.append(await first_audio_once(tts, voice))
        excess.append(times[-1] - plain)
    return statistics.median(times), statistics.median(excess)


async def transcribe_wer(stt: STT, audio: np.ndarray, rate: int, text: str) -> tuple[float, str]:
    transcript = await stt.transcribe(resample(audio, rate, 16000), language="en")
    return wer(text, transcript.text), transcript.text


async def measure_voice(
    tts: TTS, stt: STT, voice: str, runs: int, renditions: int, wav: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    parts = await sentences(tts, PASSAGE, voice)
    elapsed = time.perf_counter() - started
    audio = np.concatenate(parts)
    write_wav(wav, audio, OUTPUT_RATE)
    levels = [speech_level_db(p, OUTPUT_RATE) for p in parts]
    steps = [abs(a - b) for a, b in itertools.pairwise(levels) if a and b]
    errors = [await transcribe_wer(stt, audio, OUTPUT_RATE, PASSAGE)]
    for _ in range(renditions - 1):
        again = np.concatenate(await sentences(tts, PASSAGE, voice))
        errors.append(await transcribe_wer(stt, again, OUTPUT_RATE, PASSAGE))
    rates = sorted(rate for rate, _ in errors)
    return {
        "f0_autocorr_hz": round(median_pitch(audio, OUTPUT_RATE), 1),
        "f0_harvest_hz": round(harvest_median(audio, OUTPUT_RATE), 1),
        "centroid_hz": round(spectral_centroid(audio, OUTPUT_RATE)),
        "rtf_one_core": round(elapsed / (audio.size / OUTPUT_RATE), 3),
        "sentence_levels_db": [None if x is None else round(x, 1) for x in levels],
        "largest_level_step_db": round(max(steps), 2) if steps else 0.0,
        "wer_median": round(statistics.median(rates), 3),
        "wer_worst": round(rates[-1], 3),
        "transcripts": sorted({text.strip() for _, text in errors}),
        "seconds": round(audio.size / OUTPUT_RATE, 2),
    }


def raw_piper(tts: PiperTTS, text: str, profile: VoiceProfile) -> list[np.ndarray]:
    """Piper's own sentences for `profile` (rate and noise settings), before any voicing."""
    import piper

    voice: Any = tts._voices[tts._default_model]  # a bench may reach inside
    config = piper.SynthesisConfig(
        length_scale=profile.length_scale,
        noise_scale=profile.noise_scale,
        noise_w_scale=profile.noise_w,
    )
    return [
        np.asarray(voice.phoneme_ids_to_audio(voice.phonemes_to_ids(p), config), np.float32)
        for p in voice.phonemize(text)
        if p
    ]


async def measure_variants(tts: PiperTTS, stt: STT, source_rate: int) -> dict[str, Any]:
    """WORLD settings on the same Piper sentences: added time per short clause, RTF, WER."""
    out: dict[str, Any] = {}
    cache = {
        v: (raw_piper(tts, SHORT, p), raw_piper(tts, PASSAGE, p))
        for v, p in BUILTIN_PROFILES.items()
    }
    for method, period, every in VARIANTS:
        added, cpu_times, rtfs, rates = [], [], [], []
        for voice, profile in BUILTIN_PROFILES.items():
            shape: Reshape = replace(
                profile.reshape,
                method=method,  # type: ignore[arg-type]
                frame_period_ms=period,
                aperiodicity_every=every,
            )
            short, passage = cache[voice]
            for _ in range(3):
                started, cpu = time.perf_counter(), time.thread_time()
                reshape(short[0], source_rate, shape)
                added.append(time.perf_counter() - started)
                cpu_times.append(time.thread_time() - cpu)  # what a core of its own would take
            level = LevelTracker()
            started = time.perf_counter()
            voiced = [
                level.apply(
                    resample(reshape(s, source_rate, shape), source_rate, OUTPUT_RATE), OUTPUT_RATE
                )
                for s in passage
            ]
            elapsed = time.perf_counter() - started
            audio = np.concatenate(voiced)
            rtfs.append(elapsed / (audio.size / OUTPUT_RATE))
            rates.append((await transcribe_wer(stt, audio, OUTPUT_RATE, PASSAGE))[0])
        out[f"{method}/{period:g}ms/d4c every {every}"] = {
            "added_first_audio_s_median": round(statistics.median(added), 3),
            "added_cpu_s_median": round(statistics.median(cpu_times), 3),
            "vocoder_rtf_median": round(statistics.median(rtfs), 3),
            "wer_mean": round(float(np.mean(rates)), 3),
            "wer_worst": round(max(rates), 3),
        }
    return out


async def measure_espeak(stt: STT, runs: int) -> dict[str, Any]:
    from realtime2.backends.local.espeak_tts import EspeakTTS

    espeak = EspeakTTS.load()
    rate = espeak.capabilities.sample_rate
    started = time.perf_counter()
    audio = np.concatenate(await sentences(espeak, PASSAGE, "marin"))
    elapsed = time.perf_counter() - started
    write_wav(RESULTS / "espeak-ng.wav", audio, rate)
    return {
        "what": "espeak-ng en (the project's espeak backend)",
        "first_audio_s": round(await first_audio(espeak, "marin", runs), 3),
        "rtf_one_core": round(elapsed / (audio.size / rate), 3),
        "f0_autocorr_hz": round(median_pitch(audio, rate), 1),
        "wer": round((await transcribe_wer(stt, audio, rate, PASSAGE))[0], 3),
    }


async def measure_flite(stt: STT, runs: int) -> dict[str, Any] | None:
    """flite's US female voice `slt`, run as Debian ships it (a process per call)."""
    binary = shutil.which("flite")
    if binary is None:
        return None

    def speak(text: str, path: Path) -> float:
        started = time.perf_counter()
        subprocess.run([binary, "-voice", "slt", "-t", text, "-o", str(path)], check=True)
        return time.perf_counter() - started

    with tempfile.TemporaryDirectory() as tmp:
        short = [speak(SHORT, Path(tmp) / "short.wav") for _ in range(runs)]
        elapsed = speak(PASSAGE, Path(tmp) / "passage.wav")
        with wave.open(str(Path(tmp) / "passage.wav")) as handle:
            rate = handle.getframerate()
            audio = pcm16_to_float(handle.readframes(handle.getnframes()))
    write_wav(RESULTS / "flite-slt.wav", audio, rate)
    return {
        "what": "flite slt (Debian flite; whole clause before any audio)",
        "first_audio_s": round(statistics.median(short), 3),
        "rtf_one_core": round(elapsed / (audio.size / rate), 3),
        "f0_autocorr_hz": round(median_pitch(audio, rate), 1),
        "wer": round((await transcribe_wer(stt, audio, rate, PASSAGE))[0], 3),
    }


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3]


def cpu_name() -> str:
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    model, config = default_piper_voice()
    tts = PiperTTS.load(model, config, dict(BUILTIN_PROFILES), threads=1)
    joe = PiperTTS.load(model, config, {v: VoiceProfile() for v in VOICES}, threads=1)
    stt = build_stt(EngineSettings(_env_file=None))  # type: ignore[call-arg]
    load_before = loadavg()
    await first_audio(tts, "marin", 1)  # warm-up: onnxruntime's first run is slow
    await first_audio(joe, "marin", 1)
    baseline = await measure_voice(
        joe, stt, "marin", args.runs, args.renditions, RESULTS / "joe.wav"
    )
    baseline["first_audio_s"] = round(await first_audio(joe, "marin", args.runs), 3)
    voices: dict[str, Any] = {}
    for voice in VOICES:
        figures = await measure_voice(
            tts, stt, voice, args.runs, args.renditions, RESULTS / f"{voice}.wav"
        )
        figures["sex"] = "female" if voice in FEMALE else "male"
        first, added = await added_first_audio(tts, joe, voice, args.runs)
        figures["first_audio_s"] = round(first, 3)
        figures["added_first_audio_s"] = round(added, 3)
        voices[voice] = figures
    result: dict[str, Any] = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": 1,
        "passage": PASSAGE,
        "short_clause": SHORT,
        "joe_plain": baseline,
        "voices": voices,
    }
    if args.variants:
        result["vocoder_variants"] = await measure_variants(tts, stt, joe_rate(tts))
        result["other_routes"] = {"espeak-ng": await measure_espeak(stt, args.runs)}
        flite = await measure_flite(stt, args.runs)
        if flite is not None:
            result["other_routes"]["flite-slt"] = flite
    result["loadavg_before"] = load_before
    result["loadavg_after"] = loadavg()
    tts.close()
    joe.close()
    return result


def joe_rate(tts: PiperTTS) -> int:
    voice: Any = tts._voices[tts._default_model]
    return int(voice.config.sample_rate)


def report(result: dict[str, Any]) -> None:
    print(
        f"CPU: {result['cpu']} ({result['cores']} cores), load {result['loadavg_before']}"
        f" -> {result['loadavg_after']}; TTS on 1 thread"
    )
    header = (
        f"{'voice':7} {'sex':6} {'F0 ac':>6} {'F0 hv':>6} {'centroid':>8} "
        f"{'1st audio':>9} {'+vocoder':>8} {'RTF':>6} {'level step':>10} {'WER med/worst':>13}"
    )
    print(header)
    rows = [("joe", {**result["joe_plain"], "sex": "male", "added_first_audio_s": 0.0})]
    rows += list(result["voices"].items())
    for name, f in rows:
        print(
            f"{name:7} {f['sex']:6} {f['f0_autocorr_hz']:6.0f} {f['f0_harvest_hz']:6.0f} "
            f"{f['centroid_hz']:8.0f} {f['first_audio_s']:9.3f} {f['added_first_audio_s']:8.3f} "
            f"{f['rtf_one_core']:6.3f} {f['largest_level_step_db']:10.2f} "
            f"{f['wer_median']:6.3f}/{f['wer_worst']:.3f}"
        )
    for name, f in result.get("vocoder_variants", {}).items():
        print(
            f"WORLD {name:26} +{f['added_first_audio_s_median']:.3f} s "
            f"(CPU {f['added_cpu_s_median']:.3f} s) per short clause, "
            f"vocoder RTF {f['vocoder_rtf_median']:.3f}, WER mean {f['wer_mean']:.3f} "
            f"worst {f['wer_worst']:.3f}"
        )
    for name, f in result.get("other_routes", {}).items():
        print(
            f"{name:10} first audio {f['first_audio_s']:.3f} s, RTF {f['rtf_one_core']:.3f}, "
            f"F0 {f['f0_autocorr_hz']:.0f} Hz, WER {f['wer']:.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="first-audio repetitions per voice")
    parser.add_argument("--renditions", type=int, default=3, help="renditions per voice for WER")
    parser.add_argument("--no-variants", dest="variants", action="store_false")
    arguments = parser.parse_args()
    figures = asyncio.run(main(arguments))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "voices.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    report(figures)
