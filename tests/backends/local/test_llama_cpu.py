"""The embedded LLM picks CPU kernels this machine runs, and never trusts AMX unproven."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from realtime2.backends.local import llama_cpu
from realtime2.backends.local.llama_cpu import ProbeResult, choose_variant, run_probe
from realtime2.backends.local.models import ModelSetupError

SEGFAULT = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
SCORES_ON_AN_AMX_CPU = {
    "x64": 1,
    "haswell": 91,
    "skylakex": 123,
    "zen4": 2043,
    "sapphirerapids": 4091,
}


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def never(_name: str) -> ProbeResult:
    raise AssertionError("the AMX probe must not run when AMX is not the best candidate")


def test_best_score_wins_and_amx_is_not_probed_when_not_advertised() -> None:
    scores = SCORES_ON_AN_AMX_CPU | {"sapphirerapids": 0}
    assert choose_variant(scores, never) == ("zen4", "not advertised")
    assert choose_variant({"x64": 1, "haswell": 0}, never) == ("x64", "not advertised")


def test_amx_advertised_but_unusable_falls_back_to_the_best_variant_without_it() -> None:
    # The probe is a real child process that dies the way the faulting AMX kernel does.
    probed: list[str] = []

    def probe(name: str) -> ProbeResult:
        probed.append(name)
        return run_probe(SEGFAULT)

    name, amx = choose_variant(SCORES_ON_AN_AMX_CPU, probe)
    assert probed == ["sapphirerapids"]
    assert name == "zen4"
    assert amx == "unusable: probe died with SIGSEGV"


def test_amx_used_only_when_the_probe_ran_inference() -> None:
    usable = ProbeResult(True, "probe ran inference")
    assert choose_variant(SCORES_ON_AN_AMX_CPU, lambda _n: usable) == ("sapphirerapids", "usable")


def test_probe_failures_are_reasons() -> None:
    assert run_probe([sys.executable, "-c", "raise SystemExit(3)"]).reason.startswith(
        "probe exited 3"
    )
    slow = run_probe([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    assert not slow.usable and "did not finish" in slow.reason


def test_no_supported_variant_is_a_one_line_error() -> None:
    with pytest.raises(ModelSetupError, match="REALTIME2_LLM_CPU_VARIANT"):
        choose_variant({"skylakex": 0}, never)


# --- the installed wheel (scripts/llama-wheel.sh) on this machine's CPU ------------------


def installed_variants() -> dict[str, Path]:
    variants = llama_cpu.variants_in(llama_cpu.library_dir())
    if not variants:
        pytest.fail("llama-cpp-python was not installed from scripts/llama-wheel.sh (make install)")
    return variants


def test_wheel_is_portable_and_scores_match_this_cpu() -> None:
    variants = installed_variants()
    assert {"x64", "haswell", "skylakex", "icelake", "zen4", "sapphirerapids"} <= set(variants)
    lib = llama_cpu.library_dir()
    assert not (lib / "libggml-cpu.so").exists()  # no backend tied to the build machine
    scores = {name: llama_cpu.variant_score(path) for name, path in variants.items()}
    flags = cpu_flags()
    assert scores["x64"] > 0
    assert (scores["haswell"] > 0) == ({"avx2", "fma", "f16c", "bmi2"} <= flags)
    assert (scores["skylakex"] > 0) == ({"avx2", "avx512f", "avx512bw"} <= flags)
    assert (scores["sapphirerapids"] > 0) == ({"amx_tile", "amx_int8", "avx512f"} <= flags)


@pytest.mark.models
def test_real_probe_of_the_amx_variant_never_harms_this_process() -> None:
    """On a CPU without AMX the AMX variant refuses to load in the child; with AMX, the
    child either runs inference or dies; this process carries on either way."""
    from realtime2.backends.local.models import default_llm_gguf

    variants = installed_variants()
    result = run_probe(llama_cpu.probe_argv(variants["sapphirerapids"], default_llm_gguf()))
    if not {"amx_tile", "amx_int8"} <= cpu_flags():
        assert not result.usable and result.reason.startswith("probe exited 3")
    portable = run_probe(llama_cpu.probe_argv(variants["x64"], default_llm_gguf()))
    assert portable.usable, portable.reason


CHILD = textwrap.dedent(
    """
    import json, sys
    from realtime2.backends.local import llama_cpu
    from realtime2.backends.local.models import default_llm_gguf
    from realtime2.engine.registry import build_llm
    from realtime2.engine.config import EngineSettings
    real_score = llama_cpu.variant_score
    if sys.argv[1] == "force-amx":
        # This CPU now "advertises" AMX: the AMX variant outscores every other one.
        def variant_score(path):
            return 1 << 20 if "sapphirerapids" in path.name else real_score(path)
        llama_cpu.variant_score = variant_score
    import asyncio
    from realtime2.engine.warmup import warm_llm
    llm = build_llm(EngineSettings().configure("llm", "local", max_tokens=8))
    asyncio.run(warm_llm(llm))
    backend = llama_cpu.loaded_backend()
    print(json.dumps({"variant": backend.variant, "amx": backend.amx, "runtime": llm.runtime}))
    """
)


@pytest.mark.models
@pytest.mark.parametrize("mode", ["auto", "force-amx"])
def test_the_llm_answers_on_this_cpu(mode: str, tmp_path: Path) -> None:
    """End to end in a fresh process: pick the variant, load the model, generate tokens.
    `force-amx` makes the AMX variant the best candidate, so the real probe decides."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    flags = cpu_flags()
    if "avx512f" in flags and "avx512bw" in flags:
        assert report["variant"] in {"skylakex", "icelake", "zen4", "sapphirerapids"}
    if mode == "force-amx" and not {"amx_tile", "amx_int8"} <= flags:
        assert report["variant"] != "sapphirerapids"
        assert report["amx"].startswith("unusable: probe exited 3")
    assert report["variant"] in report["runtime"]


def test_pinned_variant_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from realtime2.backends.local.llama_cpu import "
            "ensure_cpu_backend; ensure_cpu_backend(Path('x'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "REALTIME2_LLM_CPU_VARIANT": "pentium"},
    )
    assert done.returncode != 0 and "REALTIME2_LLM_CPU_VARIANT=pentium is not one of" in done.stderr
