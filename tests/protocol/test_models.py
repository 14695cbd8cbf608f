from __future__ import annotations

import pytest

from realtime2.protocol.models import (
    UnsupportedModelError,
    resolve_realtime_model,
    resolve_transcription_model,
)


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        (None, "realtime-pro"),
        ("realtime-pro", "realtime-pro"),
        ("realtime-mini", "realtime-mini"),
        ("gpt-realtime", "realtime-pro"),
        ("gpt-realtime-2", "realtime-pro"),
        ("gpt-realtime-2.1", "realtime-pro"),
        ("gpt-realtime-1.5", "realtime-pro"),
        ("gpt-realtime-2025-08-28", "realtime-pro"),
        ("gpt-realtime-mini", "realtime-mini"),
        ("gpt-realtime-mini-2025-10-06", "realtime-mini"),
        ("gpt-realtime-2-mini", "realtime-mini"),
        ("gpt-realtime-2.1-mini", "realtime-mini"),
        ("gpt-4o-realtime-preview-2024-12-17", "realtime-pro"),
        ("gpt-4o-mini-realtime-preview", "realtime-mini"),
    ],
)
def test_aliases(name: str | None, tier: str) -> None:
    assert resolve_realtime_model(name) == tier


@pytest.mark.parametrize(
    "name", ["gpt-4o", "gpt-realtime-translate", "gpt-realtime-whisper", "realtime-max", "x"]
)
def test_unsupported(name: str) -> None:
    with pytest.raises(UnsupportedModelError) as info:
        resolve_realtime_model(name)
    assert info.value.code == "unsupported_model"


def test_transcription_models() -> None:
    for name in (
        "whisper-1",
        "gpt-realtime-whisper",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
    ):
        assert resolve_transcription_model(name) == name
    assert resolve_transcription_model(None) == "gpt-realtime-whisper"
    with pytest.raises(UnsupportedModelError):
        resolve_transcription_model("gpt-realtime")
