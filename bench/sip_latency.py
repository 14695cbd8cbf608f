"""Mouth-to-ear latency of a phone call on loopback: SIP + G.711 RTP into the embedded
engines and back.

    .venv/bin/python -m bench.sip_latency [--turns 5]

Starts the real app in-process with SIP on a loopback UDP port and the embedded engines
(as `bench.realtime_latency` does), registers a SIP endpoint, and places one call with the
test peer of `tests/support/sip.py` (a UAC sending µ-law RTP in 20 ms packets paced by the
wall clock): the webhook arrives, the call is accepted through the API, and each turn sends
300 ms of silence, a spoken question (Piper speech at 8 kHz) and then silence until the
reply has been heard. Per turn:

- **mouth-to-ear**: the packet holding the question's last voiced sample sent → the first
  reply packet with sound received (includes the VAD's silence window, the server's jitter
  buffer, the engines, and 8 kHz packetisation; the caller has no jitter buffer of its own);
- **speech_stopped → first sound**: from the server's `input_audio_buffer.speech_stopped`
  (seen on the call's event stream) to that packet.

Writes `bench/results/sip_latency.json` (merged under `runs["turns=N"]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tests.support.sip import Phone, bind_udp, sip_server, webhook_receiver
from tests.support.speech import speech_pcm16

from bench.common import INSTRUCTIONS, QUESTIONS, VOICED_LEVEL

RESULTS = Path(__file__).resolve().parent / "results" / "sip_latency.json"
PACKET = 320  # bytes of 8 kHz pcm16 per 20 ms


async def run(turns: int) -> dict[str, Any]:
    from realtime2.calls.sip_endpoints import SipEndpoints
    from realtime2.config import Settings
    from realtime2.db.migrate import upgrade
    from realtime2.engine.config import EngineSettings
    from realtime2.engine.registry import EngineHost, build_engines
    from realtime2.state import Services

    with tempfile.TemporaryDirectory(prefix="rt2-sip-bench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            secret_key="bench-" + secrets.token_hex(8),
        )
        services = Services.build(settings)
        await upgrade(services.db)
        engines = await asyncio.to_thread(build_engines, EngineSettings(_env_file=None))  # type: ignore[call-arg]
        services.engines = EngineHost.with_engines(engines)
        user = await services.users.create(
            f"bench-{secrets.token_hex(4)}@example.com", "pw-bench-1"
        )
        await services.ledger.top_up(user.id, 1_000_000)
        _, key = await services.keys.create(user.id, "bench")
        async with (
            webhook_receiver() as hooks,
            sip_server(services, rtp_timeout_seconds=120) as (
                live,
                sip,
            ),
        ):
            endpoint = await SipEndpoints(services.db).add(user.id, hooks.url)
            caller = Phone(await bind_udp(), await bind_udp(), ("127.0.0.1", sip.port))
            http = httpx.AsyncClient(
                base_url=live.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
            )
            try:
                caller.invite(endpoint.uri_user)
                _, body = await hooks.next()
                call_id = json.loads(body)["data"]["call_id"]
                accepted = await http.post(
                    f"/v1/realtime/calls/{call_id}/accept",
                    json={
                        "type": "realtime",
                        "model": "gpt-realtime-mini",
                        "instructions": INSTRUCTIONS,
                    },
                )
                accepted.raise_for_status()
                await caller.response(200)
                caller.ack()
                call = live.calls.get(call_id)
                assert call is not None
                events = call.subscribe()
                rows = [
                    await turn(caller, call, events, QUESTIONS[n % len(QUESTIONS)])
                    for n in range(turns + 1)
                ][1:]  # the first is a warm-up
                await http.post(f"/v1/realtime/calls/{call_id}/hangup")
                await asyncio.wait_for(call.wait_ended(), 30)
            finally:
                await http.aclose()
                await caller.close()
        await services.close()
    m2e = [r["mouth_to_ear_s"] for r in rows]
    sts = [r["speech_stopped_to_sound_s"] for r in rows]
    return {
        "turns": rows,
        "mouth_to_ear_median_s": round(statistics.median(m2e), 3),
        "mouth_to_ear_max_s": round(max(m2e), 3),
        "speech_stopped_to_sound_median_s": round(statistics.median(sts), 3),
        "loadavg": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


async def turn(caller: Phone, call: Any, events: Any, question: str) -> dict[str, Any]:
    pcm = bytes(4800) + speech_pcm16(question, sample_rate=8000)  # 300 ms of silence first
    samples = np.abs(np.frombuffer(pcm, "<i2").astype(np.int32))
    last_voiced = int(np.flatnonzero(samples > VOICED_LEVEL)[-1])
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent_last_voiced = 0.0
    stopped_at: float | None = None
    done = False
    heard_from = len(caller.received_audio)
    first_sound: float | None = None
    n = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at = n * PACKET
        chunk = pcm[at : at + PACKET] if at < len(pcm) else b""
        caller.send_packet(chunk.ljust(PACKET, b"\x00"))
        if at <= last_voiced * 2 < at + PACKET:
            sent_last_voiced = time.monotonic()
        n += 1
        while not events.empty():
            event = events.get_nowait()
            if event is None:
                raise RuntimeError(f"the call ended: {call.end_reason}")
            if event["type"] == "input_audio_buffer.speech_stopped" and stopped_at is None:
                stopped_at = time.monotonic()
            elif event["type"] == "output_audio_buffer.stopped":
                done = True
        if first_sound is None:
            for i in range(heard_from, len(caller.received_audio)):
                if np.abs(np.frombuffer(caller.received_audio[i], "<i2")).max() > VOICED_LEVEL:
                    first_sound = caller.received_at[i]
                    break
        if done and first_sound is not None and call.leg.queued_seconds == 0:
            break
        await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
    if first_sound is None or stopped_at is None:
        raise RuntimeError("no reply heard")
    return {
        "question": question,
        "mouth_to_ear_s": round(first_sound - sent_last_voiced, 3),
        "speech_stopped_to_sound_s": round(first_sound - stopped_at, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args.turns))
    for row in result["turns"]:
        print(
            f"{row['question']:<40} mouth-to-ear {row['mouth_to_ear_s']:.2f} s  "
            f"speech_stopped→sound {row['speech_stopped_to_sound_s']:.2f} s"
        )
    print(
        f"median mouth-to-ear {result['mouth_to_ear_median_s']:.2f} s "
        f"(max {result['mouth_to_ear_max_s']:.2f} s), load {result['loadavg']:.1f}"
    )
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    data["runs"][f"turns={args.turns}"] = result
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
