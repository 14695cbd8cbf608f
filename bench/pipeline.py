"""The Starter Voice pipeline endpoint on the embedded engines, from a ~3 s spoken question:
total time, time in each stage and real-time factors (medians over several runs), and
throughput (requests per minute) and latency at 1–4 concurrent requests.

    .venv/bin/python -m bench.pipeline [--runs 6] [--concurrency 1 2 3 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from typing import Any

import httpx

from bench.idle_sessions import start_server
from bench.report import median, percentile, print_table, write_bar_chart, write_json
from realtime2.audio.decode import decode_audio

QUESTION = "What is a good way to start learning to play the guitar?"


def question_wav() -> tuple[bytes, float]:
    import io
    import wave

    from tests.support.speech import speech

    samples = speech(QUESTION, 16000)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((samples.clip(-1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue(), samples.size / 16000


async def one_request(http: httpx.AsyncClient, key: str, wav: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    response = await http.post(
        "/api/realtime2/pipeline",
        headers={"x-api-key": key},
        data={"model": "starter-voice", "voice": "marin", "instructions": "Answer briefly."},
        files={"audio": ("q.wav", wav, "audio/wav")},
    )
    total = time.perf_counter() - started
    response.raise_for_status()
    body = response.json()
    _, reply_seconds = decode_audio(base64.b64decode(body["audioBase64"]), 16000)
    return {"total": total, "reply_seconds": reply_seconds, **body["timings"],
            "credits": body["usage"]["credits"], "seconds": body["usage"]["seconds"]}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--port", type=int, default=18432)
    args = parser.parse_args()
    import tempfile
    from pathlib import Path

    wav, question_seconds = question_wav()
    with tempfile.TemporaryDirectory() as tmp:
        proc, key = start_server(Path(tmp), args.port)
        http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}", timeout=300)
        try:
            await one_request(http, key, wav)  # warm-up
            solo = [await one_request(http, key, wav) for _ in range(args.runs)]
            load: dict[int, dict[str, float]] = {}
            for c in args.concurrency:
                slots = asyncio.Semaphore(c)

                async def limited() -> dict[str, Any]:
                    async with slots:  # noqa: B023 - each level awaits its own gather
                        return await one_request(http, key, wav)

                started = time.perf_counter()
                results = await asyncio.gather(*(limited() for _ in range(max(c * 2, args.runs))))
                elapsed = time.perf_counter() - started
                totals = [r["total"] for r in results]
                load[c] = {
                    "requests": len(results),
                    "requests_per_minute": len(results) / elapsed * 60,
                    "latency_median": median(totals),
                    "latency_p95": percentile(totals, 95),
                }
        finally:
            await http.aclose()
            proc.terminate()
            proc.wait(30)

    def med(name: str) -> float:
        return median([r[name] for r in solo if name in r])

    reply = med("reply_seconds")
    stages = [
        ["total (HTTP round trip)", med("total"), "-"],
        ["stt", med("stt"), med("stt") / question_seconds],
        ["llm first token", med("llm_first_token"), "-"],
        ["first reply audio ready", med("first_audio"), "-"],
        ["llm (all tokens)", med("llm"), "-"],
        ["tts (all sentences)", med("tts"), med("tts") / reply],
    ]
    print_table(
        f"pipeline, {question_seconds:.1f} s spoken question, reply {reply:.1f} s "
        f"(median of {args.runs})",
        ["stage", "seconds", "real-time factor"],
        stages,
    )
    print_table(
        "pipeline under concurrency",
        ["concurrent", "requests", "req/min", "median s", "p95 s"],
        [[c, v["requests"], v["requests_per_minute"], v["latency_median"], v["latency_p95"]]
         for c, v in load.items()],
    )  # fmt: skip
    charged_ok = all(r["credits"] == r["seconds"] for r in solo)
    print(f"credits charged == measured seconds in every run: {charged_ok}")
    write_json(
        "pipeline",
        {"question_seconds": question_seconds, "runs": solo,
         "stages_median": {s[0]: s[1] for s in stages}, "concurrency": load},
    )  # fmt: skip
    write_bar_chart(
        "pipeline", "Pipeline latency by concurrency", [str(c) for c in load],
        {"median s": [v["latency_median"] for v in load.values()],
         "p95 s": [v["latency_p95"] for v in load.values()]}, "seconds",
    )  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
