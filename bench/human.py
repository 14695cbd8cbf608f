"""Recorded human speech as benchmark turns, and the stage breakdown of a run.

`human_turn` streams one shipped turn (`tests/support/human_speech.py`: an Asterisk read
passage cut at its sentence ends, two spoken questions, LibriVox and JFK clips) at real-time
pace, like `Talker.spoken_turn`, but counts the server's premature turn ends: a
`speech_stopped` followed by more speech (`speech_started`) in the same recorded turn ended
the turn mid-sentence (a *cut-off*, e.g. semantic VAD's short window at a pause inside a
sentence). The reply timed is the one that answers the whole turn (after the last
`speech_stopped`); a reply cut short by the user talking on is not.

`stage_summary` reduces the server's `TurnStages` (realtime.stages) to medians and p95s.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.common import RATE, Talker, TurnResult, playback_stall
from bench.report import median, percentile

STOPPED = "input_audio_buffer.speech_stopped"


@dataclass
class HumanTurnResult(TurnResult):
    name: str = ""
    cut_offs: int = 0  # speech_stopped before the end of the turn's voice


async def human_turn(
    talker: Talker, turn: Any, *, lead_ms: int = 300, tail_ms: int = 900, listen: bool = False
) -> HumanTurnResult:
    """Silence, the recorded turn (24 kHz), silence; wait for the reply to the whole turn."""
    assert turn.sample_rate == RATE
    lead = b"\0" * (RATE * lead_ms // 1000 * 2)
    tail = b"\0" * (RATE * tail_ms // 1000 * 2)
    mark = len(talker.events)
    voiced = len(lead) // 2 + turn.voiced_end
    sent = await talker.stream(lead + turn.pcm + tail, voiced_end=voiced)
    assert sent is not None
    result = HumanTurnResult(voice_end_sent=sent, name=turn.name)
    await talker.wait_for(STOPPED, mark)
    # The turn ends at the last speech_stopped that no more speech followed. A stop followed
    # by speech_started ended the turn while the user had more to say: a cut-off. A stop
    # before the last "voiced" sample went out is not one by itself: a breath or a faint
    # trailing sound is above the bench's amplitude floor but need not be speech to the VAD.
    while True:
        last_stop = max(i for i in range(mark, len(talker.events)) if _is_stop(talker, i))
        if (started := _started_after(talker, last_stop)) is not None:
            await talker.wait_for(STOPPED, started)
            continue
        done = await talker.wait_for("response.done", last_stop)
        if _started_after(talker, last_stop) is None:  # none arrived while the reply ran
            break
    result.cut_offs = sum(1 for i in range(mark, last_stop) if _is_stop(talker, i))
    result.speech_stopped = talker.events[last_stop][0]
    for at, event in talker.events[last_stop : done + 1]:
        kind = event["type"]
        if kind == "response.output_audio.delta" and result.first_audio is None:
            result.first_audio = at
        elif kind == "error":
            raise RuntimeError(f"server error: {event['error'].get('code')}")
    for _, event in talker.events[mark : done + 1]:
        if event["type"] == "conversation.item.input_audio_transcription.completed":
            result.transcript = event["transcript"]
    result.done = talker.events[done][0]
    result.stall_s = playback_stall(talker.events[last_stop : done + 1])
    response = talker.events[done][1]["response"]
    result.status = response["status"]
    usage = response.get("usage") or {}
    result.input_tokens = int(usage.get("input_tokens") or 0)
    details = usage.get("input_token_details") or {}
    result.cached_tokens = int(details.get("cached_tokens") or 0)
    if listen and result.first_audio is not None:
        import base64

        played = sum(
            len(base64.b64decode(event["delta"])) // 2
            for _, event in talker.events[last_stop : done + 1]
            if event["type"] == "response.output_audio.delta"
        )
        await asyncio.sleep(max(0.0, result.first_audio + played / RATE - time.perf_counter()))
    return result


def _is_stop(talker: Talker, index: int) -> bool:
    return bool(talker.events[index][1]["type"] == STOPPED)


def _started_after(talker: Talker, index: int) -> int | None:
    """Index of the first speech_started after event `index`, if one arrived."""
    for i in range(index + 1, len(talker.events)):
        if talker.events[i][1]["type"] == "input_audio_buffer.speech_started":
            return i
    return None


STAGES = (
    "pause_detected",
    "first_job_started",
    "stt_done",
    "first_llm_text",
    "first_sentence",
    "first_tts_chunk",
    "first_audio_sent",
)


def stage_summary(turns: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and p95 of each stage (s from speech_stopped), gate waits and busy times."""
    out: dict[str, Any] = {"turns": len(turns)}
    for stage in STAGES:
        values = [t[stage] for t in turns if t.get(stage) is not None]
        out[stage] = {
            "median": median(values) if values else None,
            "p95": percentile(values, 95) if values else None,
            "n": len(values),
        }
    waits = [t["gate_wait_s"] for t in turns]
    out["gate_wait_s"] = {"median": median(waits) if waits else None, "p95": percentile(waits, 95)}
    for model in ("stt", "llm", "tts"):
        busy = [t["busy_s"].get(model, 0.0) for t in turns]
        out[f"{model}_busy_s"] = {"median": median(busy) if busy else None}
    out["drafted"] = sum(1 for t in turns if t["path"] == "draft")
    out["audio_ready_at_stop"] = sum(
        1 for t in turns if t["first_tts_chunk"] is not None and t["first_tts_chunk"] <= 0
    )
    return out


def stage_rows(summary: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for stage in STAGES:
        s = summary[stage]
        rows.append([stage, _f(s["median"]), _f(s["p95"]), s["n"]])
    g = summary["gate_wait_s"]
    rows.append(["CPU-gate waits (total)", _f(g["median"]), _f(g["p95"]), summary["turns"]])
    for model in ("stt", "llm", "tts"):
        busy = summary[f"{model}_busy_s"]["median"]
        rows.append([f"{model} busy before first audio", _f(busy), "", summary["turns"]])
    return rows


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"
