"""The `local` LLM backend: llama.cpp settings, which GGUF to load, and its registration.

`llama_llm.LlamaLLM` is the engine; this module is what the backend catalog imports.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.backends.local.llama_llm import LlamaLLM
from realtime2.backends.local.models import existing
from realtime2.backends.local.packaged_llms import (
    CHUNKED,
    DEFAULT_PACKAGED_LLM,
    PackagedLLM,
    packaged_llm,
)
from realtime2.backends.local.requantize import Requantize, requantized
from realtime2.engine.catalog import Shared, register_backend


class LlamaSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="REALTIME2_LLM_", extra="ignore", protected_namespaces=()
    )

    model_path: Path | None = None  # any chat GGUF with a chat template (wins over the next)
    packaged_model: PackagedLLM = DEFAULT_PACKAGED_LLM  # see packaged_llms.py
    # Where a model shipped in chunks is assembled (and verified) once, and re-quantized.
    cache_dir: Path = Path.home() / ".cache" / "realtime2" / "models"
    model_name: str = ""
    # The packaged Qwen files (Q4_K_M) are re-quantized to Q4_0 once, whose x86-64 kernels
    # decode ~40 % faster with half the first-token time (requantize.py); "none": as shipped.
    requantize: Requantize = "q4_0"
    context_tokens: int = Field(default=2048, ge=256)
    max_tokens: int = Field(default=200, ge=1)  # default reply budget
    # Greedy by default: on bench/brain_eval.py's questions Qwen2.5-0.5B scored 33/40 greedy
    # and 30/40 at 0.3 (docs/engine.md, "The brain"); repeat_penalty keeps it from looping.
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    # Saved KV caches of conversations that lost the shared context to another (0 = off).
    prompt_cache_mb: int = Field(default=192, ge=0)
    decode_threads: int = Field(default=1, ge=1, le=64)  # token by token (prompts: `threads`)
    # Run on one more core while no other job wants it (engine.scheduler.SpareCore): a lone
    # turn's first words come ~30 % sooner on two cores (docs/engine.md, "Idle cores").
    borrow_idle_core: bool = True


def model_file(settings: LlamaSettings) -> tuple[Path, str]:
    """The GGUF to load and the model name reported to clients."""
    if settings.model_path is not None:
        path = existing(settings.model_path, "GGUF model", "REALTIME2_LLM_MODEL_PATH")
        return path, settings.model_name or path.stem
    path = packaged_llm(settings.packaged_model, settings.cache_dir)
    if settings.packaged_model in CHUNKED:  # the K-quants; SmolLM2 ships as Q4_1
        path = requantized(path, settings.requantize, settings.cache_dir)
    return path, settings.model_name or settings.packaged_model


def build(settings: LlamaSettings, shared: Shared) -> LlamaLLM:
    path, name = model_file(settings)
    return LlamaLLM.load(
        path,
        name=name,
        threads=shared.threads,
        decode_threads=settings.decode_threads,
        context_tokens=settings.context_tokens,
        default_max_tokens=settings.max_tokens,
        temperature=settings.temperature,
        prompt_cache_bytes=settings.prompt_cache_mb * 1024 * 1024,
        borrow_idle_core=settings.borrow_idle_core,
    )


register_backend(
    "llm",
    "local",
    aliases=("llama",),
    settings=LlamaSettings,
    build=build,
    describe=lambda s: "llama.cpp " + (s.model_path.stem if s.model_path else s.packaged_model),
    requires={"llama_cpp": "llama-cpp-python"},
    fix=(
        "check REALTIME2_LLM_MODEL_PATH, REALTIME2_LLM_PACKAGED_MODEL or a writable "
        "REALTIME2_LLM_CACHE_DIR; reinstall "
        "llama-cpp-python with `make install` (scripts/llama-wheel.sh), or pin a CPU variant "
        "with REALTIME2_LLM_CPU_VARIANT"
    ),
)
