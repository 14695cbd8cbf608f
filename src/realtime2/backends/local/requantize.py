"""A packaged K-quant GGUF re-quantized to Q4_0 once, for llama.cpp's faster x86-64 kernels.

llama.cpp repacks Q4_0 weights into interleaved blocks when it loads them (its CPU "repack"
buffer) and multiplies them with AVX2 / AVX-512 kernels that the K-quants the packaged Qwen
files ship in (Q4_K_M) do not get on x86-64. On Qwen2.5-Coder-0.5B-Instruct (AMD EPYC Zen 5,
2 vCPUs, `bench.brain_eval`) the shipped Q4_K_M decodes 48 tokens/s with a 0.097 s first
token; the same weights re-quantized to Q4_0 decode 68 tokens/s with a 0.044 s first token,
and score the same on the eval (31/40 each; docs/engine.md, "The brain").

The output matrix goes to Q4_0 too. Left alone, llama.cpp keeps it at Q8_0 (Qwen's 896 columns
do not fit a K-quant's 256-value blocks): 138 of the file's 403 MiB, and all of it is read for
every token's logits. Decoding one token is memory-bound on a 2-core VM (an Intel Xeon Ice
Lake read ~8 GB/s on one core), so a Q4_0 output matrix (73 MiB) decodes ~18 % faster there
(58 against 48 ms a token on one thread) at the same eval score (31/40; docs/engine.md,
"Q4_0 on x86-64"). Rounding 4-bit values a second time costs some precision, so this is a
setting
(`REALTIME2_LLM_REQUANTIZE=none` loads the file as shipped), and it only applies to the
packaged models: a GGUF an operator names is loaded as given.

The Q4_0 file is made once into the model cache (~4 s for 0.5 B parameters on two cores),
written under a temporary name and renamed into place, so a crash or a second process never
leaves half a model under the real name. A sidecar `<name>.source` records the source file's
size and mtime; a changed source is re-quantized. The result then goes through the same CPU
probe as any model (`llama_cpu.ensure_cpu_backend`), so AMX is still only used once a child
process has run this very file with it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from realtime2.backends.local.models import ModelSetupError, require_module
from realtime2.backends.local.sidecar_stamps import read_stamp, write_stamp
from realtime2.engine.scheduler import usable_cores

Requantize = Literal["q4_0", "none"]
Quantize = Callable[[Path, Path], None]  # (source, target): write target or raise


def requantized(
    source: Path, kind: Requantize, cache_dir: Path, *, quantize: Quantize | None = None
) -> Path:
    """`source` as `kind` (a cached copy made on first use), or `source` itself for "none"."""
    if kind == "none":
        return source
    target = cache_dir / f"{source.stem}.{kind}.gguf"
    if target.exists() and _stamp_matches(source, target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        (quantize or llama_quantize_q4_0)(source, temporary)
        os.replace(temporary, target)
    except (OSError, RuntimeError) as exc:
        raise ModelSetupError(
            f"could not re-quantize {source.name} to {kind} in {cache_dir}: {exc}; set "
            "REALTIME2_LLM_REQUANTIZE=none to load it as shipped"
        ) from exc
    finally:
        temporary.unlink(missing_ok=True)
    _write_stamp(source, target)
    return target


def llama_quantize_q4_0(source: Path, target: Path) -> None:
    """llama.cpp's own quantizer (what its `llama-quantize --allow-requantize` runs)."""
    llama_cpp = require_module("llama_cpp", "llama-cpp-python")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.output_tensor_type = llama_cpp.GGML_TYPE_Q4_0
    params.allow_requantize = True
    params.nthread = usable_cores()
    status = llama_cpp.llama_model_quantize(
        os.fsencode(source), os.fsencode(target), ctypes.byref(params)
    )
    if status != 0 or not target.exists():
        raise RuntimeError(f"llama_model_quantize returned {status}")


STAMP = ".source"
# What the copy is, besides its source: a cached copy made by another recipe (before the
# output matrix went to Q4_0, say) is made again.
RECIPE = "q4_0, output q4_0"


def _identity(source: Path) -> dict[str, object]:
    stat = source.stat()
    return {
        "source": source.name,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "recipe": RECIPE,
    }


def _stamp_matches(source: Path, target: Path) -> bool:
    try:
        return read_stamp(target, STAMP) == _identity(source)
    except OSError:  # no source: let the quantizer say so
        return False


def _write_stamp(source: Path, target: Path) -> None:
    write_stamp(target, STAMP, _identity(source))
