"""Free work (issue 15): HTTP requests are charged for what the client got, however they end.

- A streamed chat completion cut by the client before its last chunk was released whole
  (39 of 40 tokens delivered, 0 charged): it is now charged the generation time delivered.
- The pipeline sized its hold from the client's `durationSeconds` (a user with 10 credits
  claimed 0 s and got 61 s of work): the hold now follows the decoded audio.
- A process killed mid-request left a hold recording no use, and the expiry sweeper released
  it whole: the hold now records the use as it grows, and the sweeper charges it.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from realtime2.accounts.ledger import Ledger
from realtime2.app import create_app
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.fakes import FakeLLM, FakeSTT, fake_engines
from tests.support.server import LiveServer, build_services, serve_app


def wav_tone(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


async def charged(svc: Services, acct: Account, credits: int) -> int:
    """Credits taken once nothing is held any more (waits for the request to settle)."""
    for _ in range(200):
        balance = await svc.ledger.balance(acct.user_id)
        if balance.held == 0:
            return int(credits - balance.available)
        await asyncio.sleep(0.025)
    raise AssertionError(f"still held: {balance}")


# --- (a) a stream cut short is charged what it delivered ------------------------------------


@pytest.fixture
async def slow_chat(tmp_path: Path) -> AsyncIterator[LiveServer]:
    tokens = [f"t{i} " for i in range(40)]
    svc = await build_services(tmp_path, fake_engines(llm=FakeLLM(script=tokens, delay=0.05)))
    async for server in serve_app(svc):
        yield server
    await svc.close()


async def test_stream_cut_before_the_last_chunk_is_charged(slow_chat: LiveServer) -> None:
    svc = slow_chat.services
    acct = await new_account(svc, credits=100)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "count"}]}
    received = 0
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=slow_chat.url, timeout=10) as http,
        http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"x-api-key": acct.key}
        ) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get(
                "content"
            ):
                received += 1
                if received == 39:
                    break  # hang up before the last token and the finish chunk
    delivered_seconds = time.monotonic() - started
    assert received == 39
    taken = await charged(svc, acct, 100)
    # ~1.95 s of generation were delivered: 2 credits at 1/s (0 before the fix).
    assert 1 <= taken <= int(delivered_seconds) + 1, (taken, delivered_seconds)


# --- (b) the pipeline's estimate is the decoded audio, not the client's claim -------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Services, FakeSTT]]:
    stt = FakeSTT()
    svc = await build_services(tmp_path, fake_engines(stt=stt))
    transport = httpx.ASGITransport(app=create_app(svc.settings, svc))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, svc, stt
    await svc.close()


async def test_pipeline_estimate_ignores_a_lying_duration(
    api: tuple[httpx.AsyncClient, Services, FakeSTT],
) -> None:
    """10 credits, 56 s of audio claimed as 0 s: 402, and the STT never ran (before: 200 and
    61 s of work for the 10 credits the user had)."""
    client, svc, stt = api
    acct = await new_account(svc, credits=10)
    response = await client.post(
        "/api/realtime2/pipeline",
        headers={"x-api-key": acct.key},
        data={"model": "starter-voice", "durationSeconds": "0"},
        files={"audio": ("q.wav", wav_tone(56), "audio/wav")},
    )
    assert response.status_code == 402, response.text
    assert response.json()["error"]["code"] == "insufficient_credits"
    assert stt.calls == []
    assert await charged(svc, acct, 10) == 0


async def test_pipeline_with_enough_credit_is_charged_the_decoded_length(
    api: tuple[httpx.AsyncClient, Services, FakeSTT],
) -> None:
    client, svc, _ = api
    acct = await new_account(svc, credits=100)
    response = await client.post(
        "/api/realtime2/pipeline",
        headers={"x-api-key": acct.key},
        data={"model": "starter-voice", "durationSeconds": "1"},
        files={"audio": ("q.wav", wav_tone(56), "audio/wav")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["credits"] == 57  # 56 s in + 0.2 s of reply
    assert await charged(svc, acct, 100) == 57
    # Use was recorded ahead (61 s, for a crash); the settled hold records the truth.
    hold = await svc.ledger.get_hold(await _open_hold(svc, acct))
    assert hold is not None and (hold.used, hold.captured) == (57, 57)


# --- (d) a killed process's HTTP hold settles what was used ----------------------------------


FORMS: dict[str, tuple[str, dict[str, str], str]] = {
    "pipeline": ("/api/realtime2/pipeline", {"model": "starter-voice"}, "audio"),
    "transcriptions": ("/v1/audio/transcriptions", {"model": "whisper-1"}, "file"),
}


class GatedSTT(FakeSTT):
    """Transcribes once `gate` is set: a request stalled inside the STT."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def transcribe(self, audio: Any, **kwargs: Any) -> Any:
        await self.gate.wait()
        return await super().transcribe(audio, **kwargs)


@pytest.mark.parametrize(("name", "expected"), [("pipeline", 9), ("transcriptions", 4)])
async def test_hold_of_a_killed_request_is_charged_its_use(
    tmp_path: Path, name: str, expected: int
) -> None:
    """The request stalls in the STT (its process is as good as dead); another replica's
    sweeper finds the hold expired and charges the 3.2 s of audio the request was working
    on (the pipeline also the 5 s reply it had started on), not 0. Should the request still
    finish afterwards, it answers and charges nothing twice."""
    stt = GatedSTT()
    svc = await build_services(tmp_path, fake_engines(stt=stt))
    acct = await new_account(svc, credits=100)
    url, data, field = FORMS[name]
    transport = httpx.ASGITransport(app=create_app(svc.settings, svc))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        files: Any = {field: ("q.wav", wav_tone(3.2), "audio/wav")}
        request = asyncio.create_task(
            client.post(url, headers={"x-api-key": acct.key}, data=data, files=files)
        )
        hold_id = await _open_hold(svc, acct)
        for _ in range(200):  # until the request is inside the STT
            hold = await svc.ledger.get_hold(hold_id)
            if hold is not None and hold.used:
                break
            await asyncio.sleep(0.025)
        later = datetime.now(UTC) + timedelta(seconds=601)
        assert await Ledger(svc.db, clock=lambda: later).expire_holds() == 1
        balance = await svc.ledger.balance(acct.user_id)
        assert (100 - balance.available, balance.held) == (expected, 0)
        stt.gate.set()
        response = await request
    assert response.status_code == 200, response.text
    assert (await svc.ledger.balance(acct.user_id)).available == 100 - expected
    await svc.close()


async def _open_hold(svc: Services, acct: Account) -> str:
    for _ in range(200):
        for entry in await svc.ledger.entries(acct.user_id):
            if entry.kind == "hold" and entry.hold_id:
                return str(entry.hold_id)
        await asyncio.sleep(0.025)
    raise AssertionError("no hold was placed")
