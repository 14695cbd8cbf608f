"""`make soak` in miniature (one SIGKILL round, a few seconds of load), so the harness
itself stays working: it must report PASS, an exact ledger and zero errors."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import ROOT

ARGS = ("--rounds", "1", "--load-seconds", "4", "--sessions", "4", "--max-growth", "1.0")


def test_one_fault_round_and_a_short_load_run_pass() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "soak.run", *ARGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT                 PASS" in done.stdout
    assert "faults injected        1 SIGKILLs" in done.stdout
    assert "errors                 0" in done.stdout
