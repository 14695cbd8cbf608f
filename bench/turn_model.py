"""The end-of-turn model on recorded human speech: pauses inside sentences vs sentence ends.

    .venv/bin/python -m bench.turn_model

For every shipped human turn (`tests/support/human_speech.py`: the Asterisk read passage cut
at its sentence ends, two questions, LibriVox and JFK clips) it scores what `semantic_vad`
hands the model (`backends/local/smart_turn.py`) when the user pauses: the turn from its
start up to `--trail-ms` into the pause. Once at each silent span inside the speech (≥ 150 ms:
the turn is *not* finished there) and once at the end of the voice (finished). Per
eagerness it then counts, with that eagerness's threshold (`TURN_THRESHOLDS`):

- cut risks: inner pauses that score at or above the threshold *and* last longer than the
  eagerness's shortest window: there the turn would end mid-sentence;
- fast ends: turn ends that score at or above it: there the turn ends after the shortest
  window (250 ms for high).

It also times the checks (median and p95 ms, one thread), prints the CPU and load, and writes
`bench/results/turn_model.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench.report import RESULTS, machine, median, percentile, print_table
from realtime2.backends.local.smart_turn import SmartTurn, packaged_model
from realtime2.protocol.turn_detection import SEMANTIC_WINDOWS_MS, TURN_THRESHOLDS

RATE = 16000


def _scores(model: SmartTurn, trail_ms: int) -> tuple[list[dict[str, Any]], list[float]]:
    from tests.support.human_speech import human_turns

    rows: list[dict[str, Any]] = []
    times: list[float] = []
    trail = RATE * trail_ms // 1000
    for turn in human_turns(RATE):
        audio = np.frombuffer(turn.pcm, "<i2").astype(np.float32) / 32768.0
        points: list[tuple[str, int, int | None]] = [
            ("pause", start, end - start) for start, end in turn.pauses_ms
        ]
        points.append(("end", turn.voiced_end * 1000 // RATE, None))
        for kind, at_ms, length in points:
            target = at_ms * RATE // 1000 + trail  # may run past the recording's end
            piece = np.zeros(target, np.float32)
            piece[: min(target, audio.size)] = audio[:target]
            started = time.perf_counter()
            p = model.score(piece)
            times.append(time.perf_counter() - started)
            rows.append(
                {
                    "turn": turn.name,
                    "kind": turn.kind,
                    "point": kind,
                    "at_ms": at_ms,
                    "pause_ms": length,
                    "p": round(p, 4),
                }
            )
    return rows, times


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    pauses = [r for r in rows if r["point"] == "pause"]
    ends = [r for r in rows if r["point"] == "end"]
    out: dict[str, Any] = {
        "inner_pauses": len(pauses),
        "turn_ends": len(ends),
        "pause_p_median": median([r["p"] for r in pauses]) if pauses else None,
        "end_p_median": median([r["p"] for r in ends]),
        "per_eagerness": {},
    }
    for eagerness in ("high", "medium", "low"):
        threshold = TURN_THRESHOLDS[eagerness]
        shortest = SEMANTIC_WINDOWS_MS[eagerness][0]
        risky = [
            r["turn"]
            for r in pauses
            if r["p"] >= threshold and r["pause_ms"] is not None and r["pause_ms"] > shortest
        ]
        fast = [r["turn"] for r in ends if r["p"] >= threshold]
        out["per_eagerness"][eagerness] = {
            "threshold": threshold,
            "shortest_window_ms": shortest,
            "cut_risks": len(risky),
            "cut_risk_turns": sorted(set(risky)),
            "turns_with_cut_risk": len(set(risky)),
            "fast_ends": len(fast),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--trail-ms",
        type=int,
        default=100,
        help="silence after the voice included (the check is sent ~64 ms into a pause)",
    )
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    model = SmartTurn.load(packaged_model(), threads=1)
    model.score(np.zeros(RATE, np.float32))  # warm
    rows, times = _scores(model, args.trail_ms)
    model.close()
    summary = summarize(rows)
    ms = [t * 1000 for t in times]
    summary["check_ms"] = {"median": median(ms), "p95": percentile(ms, 95), "n": len(ms)}
    print_table(
        f"Smart Turn v3.2 on human speech ({summary['inner_pauses']} pauses inside sentences, "
        f"{summary['turn_ends']} turn ends, {args.trail_ms} ms into the pause)",
        ["eagerness", "threshold", "cut risks (pauses > window)", "turns at risk", "fast ends"],
        [
            [
                e,
                v["threshold"],
                v["cut_risks"],
                v["turns_with_cut_risk"],
                f"{v['fast_ends']}/{summary['turn_ends']}",
            ]
            for e, v in summary["per_eagerness"].items()
        ],
    )
    print(
        f"median p: inner pauses {summary['pause_p_median']}, turn ends {summary['end_p_median']}; "
        f"check {summary['check_ms']['median']:.1f} ms median, {summary['check_ms']['p95']:.1f} "
        "ms p95 (one thread)"
    )
    for r in rows:
        where = f"{r['turn']:<12} {r['point']:<5} at {r['at_ms']:>6} ms"
        print(f"  {where}  pause {r['pause_ms']}  p={r['p']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "turn_model.json"
    path.write_text(
        json.dumps(
            {
                "machine": machine(),
                "load_average_at_start": [round(x, 2) for x in load],
                "trail_ms": args.trail_ms,
                **summary,
                "points": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
