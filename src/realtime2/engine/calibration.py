"""Whether a model's job runs faster on one more core, timed on this CPU at warm-up.

A backend that can run a job wider (a copy of its model with one more thread) uses the wider
copy only where it clearly pays: a second thread helps some models on some CPUs and slows
others (whisper: yes on a Zen 2 VM, no on Zen 5; Piper: yes on Zen 4 and Zen 5). So each
times both copies once, on real input, with an idle core lent for the wider one.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from realtime2.engine.scheduler import CpuGate

RUNS = 3  # per copy, alternating, after two untimed runs of the wider copy
# The wider copy is used only if at least this much faster: the second core it takes is a
# core another session's job may then wait for.
WIDE_MIN_GAIN = 0.9


def time_both(
    gate: CpuGate | None, narrow: Callable[[], object], wide: Callable[[], object]
) -> tuple[float, float] | None:
    """Median seconds of `narrow` and of `wide` (on a core the gate lends for it), or None
    when no core is idle to time it on. Runs on the model's worker thread."""

    def timed(run: Callable[[], object]) -> float:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    if gate is not None and not gate.lend():
        return None
    try:
        wide()  # its first inferences allocate buffers and start its threads
        wide()
        pairs = [(timed(narrow), timed(wide)) for _ in range(RUNS)]
    finally:
        if gate is not None:
            gate.release()
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def wider_pays(narrow_s: float, wide_s: float) -> bool:
    return wide_s < WIDE_MIN_GAIN * narrow_s
