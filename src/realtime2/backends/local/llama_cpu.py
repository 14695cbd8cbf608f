"""Choose and load llama.cpp's CPU backend for this machine, once per process.

The project's llama-cpp-python wheel (`scripts/llama-wheel.sh`) is built without
`-march=native`: its CPU backend comes as several loadable variants
(`llama_cpp/lib/libggml-cpu-<name>.so`, upstream's names and instruction sets), and this
module loads the best one the running CPU supports, as `ggml_backend_load_best` would, with
one difference: a variant with AMX tile code is used only after a child process has run
real inference with it. Some CPUs (and VMs) advertise AMX yet fault on its first tile
instruction (llama.cpp issue 20824), and a fault in this process would take every session
down with it; in a child it costs a few seconds at start-up.

`REALTIME2_LLM_CPU_VARIANT` names a variant to use instead (e.g. `haswell`), for an operator
who wants to pin one. A llama-cpp-python built another way (a CPU backend linked in, or a GPU
build) is left as it is: this module then reports `variant=None`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from realtime2.backends.local.models import ModelSetupError, require_module

log = logging.getLogger(__name__)

VARIANT_PREFIX = "libggml-cpu-"
# Variants compiled with AMX tile instructions (upstream's GGML_CPU_ALL_VARIANTS list).
AMX_VARIANTS = frozenset({"sapphirerapids"})
VARIANT_ENV = "REALTIME2_LLM_CPU_VARIANT"
PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CpuBackend:
    """What was loaded, and why (reported by `/readyz` and logged once)."""

    variant: str | None  # None: this llama-cpp-python has its CPU backend built in
    score: int  # upstream's feature score of the variant (0 when not applicable)
    amx: str  # "not advertised", "usable", or "unusable: <reason>"


@dataclass(frozen=True)
class ProbeResult:
    usable: bool
    reason: str


Probe = Callable[[Path], ProbeResult]

_lock = threading.Lock()
_loaded: CpuBackend | None = None


def library_dir() -> Path:
    """llama-cpp-python's `llama_cpp/lib`, where its shared libraries are."""
    llama_cpp = require_module("llama_cpp", "llama-cpp-python")
    return Path(str(llama_cpp.__file__)).parent / "lib"


def variants_in(directory: Path) -> dict[str, Path]:
    """The CPU backend variants shipped in `directory`, by name."""
    return {
        path.name[len(VARIANT_PREFIX) : -len(".so")]: path
        for path in sorted(directory.glob(f"{VARIANT_PREFIX}*.so"))
    }


def variant_score(path: Path) -> int:
    """Upstream's score for this CPU: 0 when it lacks an instruction set the variant needs.

    The score function is compiled without the variant's instruction-set flags, so calling
    it is safe on any CPU (this is what `ggml_backend_load_best` does for every variant).
    """
    library = ctypes.CDLL(str(path))
    score_fn = library.ggml_backend_score
    score_fn.restype = ctypes.c_int
    score_fn.argtypes = []
    return int(score_fn())


def choose_variant(
    scores: Mapping[str, int], probe_amx: Callable[[str], ProbeResult]
) -> tuple[str, str]:
    """The best-scoring supported variant, and the AMX verdict.

    An AMX variant is tried (and `probe_amx` called) only when it is the best candidate;
    if the probe fails, the best variant without AMX is chosen.
    """
    ranked = sorted((s, name) for name, s in scores.items() if s > 0)
    if not ranked:
        raise ModelSetupError(
            "no llama.cpp CPU backend variant supports this CPU; "
            f"set {VARIANT_ENV} to one of {sorted(scores)} or rebuild with `make install`"
        )
    amx = "not advertised"
    for _score, name in reversed(ranked):
        if name not in AMX_VARIANTS:
            return name, amx
        result = probe_amx(name)
        if result.usable:
            return name, "usable"
        amx = f"unusable: {result.reason}"
        log.warning("llama.cpp AMX variant %s not used: %s", name, result.reason)
    raise ModelSetupError("only AMX variants of the llama.cpp CPU backend are installed")


def probe_argv(variant: Path, model: Path) -> list[str]:
    """The command that proves a variant works: real inference in a child process."""
    return [sys.executable, "-m", "realtime2.backends.local.llama_probe", str(variant), str(model)]


def run_probe(argv: list[str], timeout: float = PROBE_TIMEOUT_S) -> ProbeResult:
    """Run a probe command; usable only if it exits 0 within `timeout`."""
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"probe did not finish in {timeout:.0f} s")
    if done.returncode == 0:
        return ProbeResult(True, "probe ran inference")
    if done.returncode < 0:
        return ProbeResult(False, f"probe died with {signal.Signals(-done.returncode).name}")
    last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    return ProbeResult(False, f"probe exited {done.returncode}: {last[:200]}")


def _load_variant(path: Path) -> None:
    libggml = ctypes.CDLL(str(library_dir() / "libggml.so"))
    libggml.ggml_backend_load.restype = ctypes.c_void_p
    libggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    if not libggml.ggml_backend_load(os.fsencode(path)):
        raise ModelSetupError(f"llama.cpp could not load its CPU backend {path.name} on this CPU")


def ensure_cpu_backend(model: Path, *, probe: Probe | None = None) -> CpuBackend:
    """Load the CPU backend before the first `Llama` is made; idempotent per process.

    `model` is the GGUF the probe runs when an AMX variant is a candidate.
    """
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        variants = variants_in(library_dir())
        if not variants:
            _loaded = CpuBackend(variant=None, score=0, amx="not checked (CPU backend built in)")
            log.warning(
                "llama-cpp-python has no CPU backend variants: it was not built by "
                "scripts/llama-wheel.sh and may be tied to the CPU it was built on"
            )
            return _loaded
        pinned = os.environ.get(VARIANT_ENV, "").strip()
        scores = {name: variant_score(path) for name, path in variants.items()}
        if pinned:
            if pinned not in variants:
                raise ModelSetupError(f"{VARIANT_ENV}={pinned} is not one of {sorted(variants)}")
            name, amx = pinned, "pinned by " + VARIANT_ENV
        else:
            run = probe or (lambda path: run_probe(probe_argv(path, model)))
            name, amx = choose_variant(scores, lambda n: run(variants[n]))
        _load_variant(variants[name])
        _loaded = CpuBackend(variant=name, score=scores[name], amx=amx)
        log.info("llama.cpp CPU backend: %s (score %d; AMX %s)", name, scores[name], amx)
        return _loaded


def loaded_backend() -> CpuBackend | None:
    return _loaded
