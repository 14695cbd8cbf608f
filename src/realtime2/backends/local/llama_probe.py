"""Child process: load one llama.cpp CPU backend variant and run real inference with it.

`python -m realtime2.backends.local.llama_probe VARIANT.so MODEL.gguf` exits 0 when a prompt
was evaluated, non-zero (or dies of a signal) otherwise. `llama_cpu` runs it before it lets an
AMX variant into the server process: a CPU that advertises AMX but faults on it kills this
child, not the server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# Enough tokens for a batched matrix multiply: the AMX kernels run on batches, not on one token.
PROMPT = b"The quick brown fox jumps over the lazy dog. " * 8


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python -m realtime2.backends.local.llama_probe VARIANT.so MODEL.gguf")
        return 2
    from realtime2.backends.local.llama_cpu import _load_variant
    from realtime2.backends.local.models import require_module

    variant, model = Path(argv[1]), Path(argv[2])
    try:
        _load_variant(variant)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    llama_cpp = require_module("llama_cpp", "llama-cpp-python")
    llama = llama_cpp.Llama(
        model_path=str(model), n_ctx=256, n_threads=1, n_threads_batch=1, n_batch=128, verbose=False
    )
    tokens = llama.tokenize(PROMPT, add_bos=True)
    llama.eval(tokens)
    # The last token's logits, straight from the context (`Llama.scores` holds them only with
    # logits_all).
    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),))
    if not (np.isfinite(logits).all() and logits.any()):
        print("inference gave no finite logits", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
