"""Where the repository and the tests' saved output are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_OUTPUT = ROOT / "test-output"
