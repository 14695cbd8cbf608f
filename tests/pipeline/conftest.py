"""One real server on the embedded models for the whole package (model loading is slow)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import STT
from realtime2.engine.registry import build_stt
from tests.support.server import RealServer, start_server


@pytest.fixture(scope="package")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    tmp = tmp_path_factory.mktemp("real-server")
    proc = start_server(
        tmp,
        {"REALTIME2_DEMO_CREDITS": "100000"},
        args=("--bootstrap-demo",),
        ready_path="/readyz",
        timeout=240,
    )
    key = re.search(r"sk-gptr2-[A-Za-z0-9_-]{43}", proc.log())
    assert key, proc.log()
    try:
        yield RealServer(proc, key.group(0))
    finally:
        proc.stop()


@pytest.fixture(scope="package")
def local_stt() -> STT:
    """A whisper in the test process, to transcribe replies back."""
    return build_stt(EngineSettings())
