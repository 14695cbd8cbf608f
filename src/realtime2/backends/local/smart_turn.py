"""Smart Turn v3.2: an audio end-of-turn model for `semantic_vad`, on one CPU thread.

The model (`smart-turn-v3.2-cpu.onnx`, 8.7 MB, int8, BSD-2-Clause, by Daily / pipecat-ai) is
a Whisper-tiny encoder with a classification head: it hears the end of the user's turn and
says how likely it is that the user has finished, from intonation, pace and words, not from
silence alone. It is the `turn` role's default backend (`REALTIME2_TURN_BACKEND`).

Preprocessing is the one the model was trained with (pipecat's `local_smart_turn_v3.py` and
its vendored `_whisper_features.py`, read in pipecat-ai 1.14): 16 kHz mono; the last 8 s
kept, shorter audio padded with zeros *in front* to exactly 8 s; that whole 8 s normalised
to zero mean and unit variance; Whisper log-mel features of it (80 mels, 400-sample FFT,
160-sample hop, log10 floored 8 below the maximum, scaled (x + 4) / 4: 80 × 800), computed
with faster-whisper's own `FeatureExtractor`. The output is a sigmoid probability that the
turn is complete.

The file ships inside the `pipecat-ai` wheel. It is found through that distribution's file
list (`importlib.metadata`), which imports nothing: importing pipecat would load its whole
framework for one file. `REALTIME2_TURN_MODEL_PATH` points at another copy.

Each check runs on the model's own `ModelWorker` thread (about 0.09 s of one core: issue 18
measured 88 ms; 0.04 s features + 0.3 s ONNX here on a 2-core AMD EPYC at load 5.5), not
waiting at the process CPU gate: the gate would make it wait for a core until the draft's
whisper run, started at the same pause, is done (0.3 s quiet, over 1 s on a busy machine),
and the pause's silence window waits for this answer. A third thread on two cores for that
long slows the others by as much, once per pause; the wait would hold up the turn. It does
count as running at the gate (`jumps_gate`), so an LLM that borrowed the idle core
(`SpareCore`) hands it back instead of running two threads beside it.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.models import ModelSetupError, existing, require_module
from realtime2.engine.catalog import Shared, register_backend
from realtime2.engine.interfaces import FloatAudio, Priority, TurnModelCapabilities
from realtime2.engine.scheduler import ModelWorker, process_gate

SAMPLE_RATE: Final = 16000
WINDOW_SECONDS: Final = 8
MODEL_FILE: Final = "smart-turn-v3.2-cpu.onnx"
DISTRIBUTION: Final = "pipecat-ai"
_NORM_EPS: Final = 1e-7  # transformers' zero_mean_unit_var_norm, as the model was trained


def packaged_model() -> Path:
    """The model file inside the installed pipecat-ai wheel (nothing of it is imported)."""
    fix = f"pip install '{DISTRIBUTION}~=1.14.0', or set REALTIME2_TURN_MODEL_PATH"
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelSetupError(
            f"Smart Turn model not found ({DISTRIBUTION} is not installed): {fix}"
        ) from None
    for entry in dist.files or ():
        if entry.name == MODEL_FILE:
            return existing(
                Path(str(dist.locate_file(entry))), "Smart Turn model", "REALTIME2_TURN_MODEL_PATH"
            )
    raise ModelSetupError(f"{DISTRIBUTION} {dist.version} has no {MODEL_FILE}: {fix}")


def window(audio: FloatAudio) -> npt.NDArray[np.float32]:
    """The last 8 s, zero-padded in front, normalised to zero mean and unit variance."""
    n = SAMPLE_RATE * WINDOW_SECONDS
    x = np.asarray(audio, dtype=np.float32).reshape(-1)[-n:]
    if x.size < n:
        x = np.concatenate([np.zeros(n - x.size, np.float32), x])
    normalised: npt.NDArray[np.float32] = (x - x.mean()) / np.sqrt(x.var() + _NORM_EPS)
    return normalised.astype(np.float32)


class SmartTurn:
    """One loaded Smart Turn model; checks run one at a time on its worker."""

    name = "smart-turn-v3.2"
    capabilities = TurnModelCapabilities(sample_rate=SAMPLE_RATE, max_seconds=WINDOW_SECONDS)

    def __init__(self, session: Any, features: Any, *, worker: ModelWorker | None = None) -> None:
        self._session = session
        self._features = features
        self._input = session.get_inputs()[0].name  # "input_features"
        # Never waits for a core, but counts as running: see the module doc.
        self._worker = worker or ModelWorker("turn", gate=process_gate(), jumps_gate=True)

    @classmethod
    def load(cls, model_path: Path, *, threads: int = 1) -> SmartTurn:
        ort = require_module("onnxruntime", "onnxruntime")
        fw = require_module("faster_whisper.feature_extractor", "faster-whisper")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        features = fw.FeatureExtractor(
            feature_size=80,
            sampling_rate=SAMPLE_RATE,
            hop_length=160,
            chunk_length=WINDOW_SECONDS,
            n_fft=400,
        )
        return cls(session, features)

    def features(self, audio: FloatAudio) -> npt.NDArray[np.float32]:
        """The model's input for `audio`: log-mel features, shape (1, 80, 800)."""
        mel = self._features(window(audio), padding=0)  # 801 STFT frames, the last dropped
        return np.asarray(mel, dtype=np.float32)[np.newaxis, :, : WINDOW_SECONDS * 100]

    def score(self, audio: FloatAudio, checkpoint: Callable[[], None] = lambda: None) -> float:
        """The probability that the turn is complete (blocking; runs on the worker).
        `checkpoint` runs between the features (~40 % of a check) and the model: a check
        called off meanwhile (`JobAbandoned`) ends there."""
        features = self.features(audio)
        checkpoint()
        (out,) = self._session.run(None, {self._input: features})
        return float(np.asarray(out).reshape(-1)[0])

    async def end_of_turn(
        self, audio: FloatAudio, *, priority: Priority = Priority.FIRST_AUDIO
    ) -> float:
        samples = np.array(audio, dtype=np.float32, copy=True)  # the caller may reuse it
        return await self._worker.run(
            lambda: self.score(samples, self._worker.check_abandoned), priority
        )

    def close(self) -> None:
        self._worker.close()


class SmartTurnSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REALTIME2_TURN_", extra="ignore", protected_namespaces=()
    )

    model_path: Path | None = None  # another copy of smart-turn-v3.2-cpu.onnx


def build(settings: SmartTurnSettings, _shared: Shared) -> SmartTurn:
    path = (
        existing(settings.model_path, "Smart Turn model", "REALTIME2_TURN_MODEL_PATH")
        if settings.model_path is not None
        else packaged_model()
    )
    # One thread, whatever REALTIME2_THREADS says: a check is short and must not take both
    # cores from the draft's whisper run that it overlaps.
    return SmartTurn.load(path, threads=1)


class NoTurnModelSettings(BaseSettings):
    """Nothing to set."""


def build_none(_settings: NoTurnModelSettings, _shared: Shared) -> None:
    return None


register_backend(
    "turn",
    "smart-turn",
    settings=SmartTurnSettings,
    build=build,
    describe=lambda s: f"smart-turn v3.2 (onnx{', ' + str(s.model_path) if s.model_path else ''})",
    requires={"onnxruntime": "onnxruntime", "faster_whisper": "faster-whisper"},
    fix=(
        f"pip install '{DISTRIBUTION}~=1.14.0' (it ships {MODEL_FILE}), set "
        "REALTIME2_TURN_MODEL_PATH, or REALTIME2_TURN_BACKEND=none (semantic_vad by words only)"
    ),
)
register_backend(
    "turn",
    "none",
    aliases=("words",),
    settings=NoTurnModelSettings,
    build=build_none,
    describe=lambda _s: "none (semantic_vad judges the transcript's last words)",
    local=False,
)
