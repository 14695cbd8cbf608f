"""The packaged K-quant made into a cached Q4_0 copy once, and made again when it changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from realtime2.backends.local.models import ModelSetupError
from realtime2.backends.local.requantize import requantized


class Quantizer:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path]] = []

    def __call__(self, source: Path, target: Path) -> None:
        self.calls.append((source, target))
        target.write_bytes(b"Q4_0 of " + source.read_bytes())


def shipped(tmp_path: Path) -> Path:
    source = tmp_path / "shipped" / "model-q4_k_m.gguf"
    source.parent.mkdir()
    source.write_bytes(b"K-quant weights")
    return source


def test_none_loads_the_file_as_shipped(tmp_path: Path) -> None:
    source = shipped(tmp_path)
    quantize = Quantizer()
    assert requantized(source, "none", tmp_path / "cache", quantize=quantize) == source
    assert quantize.calls == []


def test_the_copy_is_made_once_and_reused(tmp_path: Path) -> None:
    source, cache, quantize = shipped(tmp_path), tmp_path / "cache", Quantizer()
    target = requantized(source, "q4_0", cache, quantize=quantize)
    assert target == cache / "model-q4_k_m.q4_0.gguf"
    assert target.read_bytes() == b"Q4_0 of K-quant weights"
    assert requantized(source, "q4_0", cache, quantize=quantize) == target
    assert len(quantize.calls) == 1
    # Written under a temporary name, then renamed: no half-written model under the real one.
    assert quantize.calls[0][1] != target
    assert sorted(p.name for p in cache.iterdir()) == [target.name, target.name + ".source"]


def test_a_changed_source_is_requantized(tmp_path: Path) -> None:
    source, cache, quantize = shipped(tmp_path), tmp_path / "cache", Quantizer()
    requantized(source, "q4_0", cache, quantize=quantize)
    source.write_bytes(b"other weights")
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    target = requantized(source, "q4_0", cache, quantize=quantize)
    assert target.read_bytes() == b"Q4_0 of other weights"
    assert len(quantize.calls) == 2


def test_a_copy_made_by_an_older_recipe_is_made_again(tmp_path: Path) -> None:
    """A stamp from before the output matrix went to Q4_0 names no recipe: not trusted."""
    source, cache, quantize = shipped(tmp_path), tmp_path / "cache", Quantizer()
    target = requantized(source, "q4_0", cache, quantize=quantize)
    stamp = target.with_name(target.name + ".source")
    record = json.loads(stamp.read_text())
    del record["recipe"]
    stamp.write_text(json.dumps(record))
    assert requantized(source, "q4_0", cache, quantize=quantize) == target
    assert len(quantize.calls) == 2
    assert requantized(source, "q4_0", cache, quantize=quantize) == target
    assert len(quantize.calls) == 2


def test_a_failure_names_the_setting_and_leaves_nothing(tmp_path: Path) -> None:
    source, cache = shipped(tmp_path), tmp_path / "cache"

    def broken(_source: Path, target: Path) -> None:
        target.write_bytes(b"half")
        raise RuntimeError("llama_model_quantize returned 1")

    with pytest.raises(ModelSetupError, match="REALTIME2_LLM_REQUANTIZE=none"):
        requantized(source, "q4_0", cache, quantize=broken)
    assert list(cache.iterdir()) == []


@pytest.mark.models
def test_llama_cpp_makes_a_q4_0_file(tmp_path: Path) -> None:
    """The real quantizer on the real packaged file: the copy is Q4_0 (file type 2), its
    output matrix included."""
    import llama_cpp

    from realtime2.backends.local.llama_backend import LlamaSettings
    from realtime2.backends.local.llama_cpu import ensure_cpu_backend
    from realtime2.backends.local.packaged_llms import packaged_llm

    settings = LlamaSettings()
    source = packaged_llm(settings.packaged_model, settings.cache_dir)
    target = requantized(source, "q4_0", tmp_path)
    ensure_cpu_backend(target)  # llama.cpp loads nothing before its CPU kernels are chosen
    llama = llama_cpp.Llama(model_path=str(target), vocab_only=True, verbose=False)
    assert llama.metadata["general.file_type"] == str(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0)
    # 0.5B: shipped 491 MB; Q4_0 with the output matrix left at Q8_0 429 MB (0.87); with a
    # Q4_0 output matrix 361 MB (0.73). The matrix's type is not readable through the API.
    assert target.stat().st_size < 0.8 * source.stat().st_size
