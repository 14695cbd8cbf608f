"""Decode bombs against the HTTP endpoints (issue 15).

A 97 KB FLAC of silence at 192 kHz declaring 599 s, sent by a user with zero credits, was
decoded whole on the event loop (155 MB → 1 GB, every request stalled 5.7 s) before the
402. Now: the hold comes first (no credit, no decode), absurd formats get a 400 in the
error shape, the decode stops at what the user's credit covers, and decodes run off the
event loop in bounded memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from realtime2.app import create_app
from realtime2.audio import decode as decode_module
from realtime2.audio import decode_pool
from realtime2.engine.registry import EngineHost
from realtime2.state import Services
from tests.support.accounts import Account, new_account
from tests.support.audio_files import flac_silence
from tests.support.fakes import FakeSTT, fake_engines
from tests.support.server import LiveServer, build_services, serve_app

PIPELINE = "/api/realtime2/pipeline"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
BOMB = (192_000, 599.0)  # the file: 97 KB


def upload(url: str, data: bytes) -> dict[str, Any]:
    """The form for `url` carrying `data` as its audio file."""
    if url == PIPELINE:
        return {"data": {"model": "starter-voice"}, "files": {"audio": ("a.flac", data)}}
    return {"data": {"model": "whisper-1"}, "files": {"file": ("a.flac", data)}}


@pytest.fixture
async def api(sqlite_services: Services) -> AsyncIterator[httpx.AsyncClient]:
    sqlite_services.engines = EngineHost.with_engines(fake_engines())
    app = create_app(sqlite_services.settings, sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every container the server opens (PyAV's `av.open`, whoever calls it)."""
    calls: list[int] = []
    real_open: Callable[..., Any] = av.open

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", spy)
    return calls


def assert_error_shape(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"code", "message", "type"} <= set(error) and error["code"] == code, error


async def assert_untouched(svc: Services, acct: Account, credits: int) -> None:
    balance = await svc.ledger.balance(acct.user_id)
    assert (balance.available, balance.held) == (credits, 0)


@pytest.mark.parametrize("url", [PIPELINE, TRANSCRIPTIONS])
async def test_zero_credit_user_gets_402_before_any_decoding(
    api: httpx.AsyncClient, sqlite_services: Services, opened: list[int], url: str
) -> None:
    acct = await new_account(sqlite_services, credits=0)
    form = upload(url, flac_silence(*BOMB))
    opened.clear()  # making the file opened one
    started = time.perf_counter()
    response = await api.post(url, headers={"x-api-key": acct.key}, **form)
    assert_error_shape(response, 402, "insufficient_credits")
    assert opened == [], "the audio was opened before the credit check"
    assert time.perf_counter() - started < 0.5
    await assert_untouched(sqlite_services, acct, 0)


@pytest.fixture
def resamplers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every resampler the decoder makes: one per stream whose frames it goes on to decode."""
    made: list[tuple[int, int]] = []
    real = decode_module.StreamResampler

    def spy(source_rate: int, target_rate: int) -> Any:
        made.append((source_rate, target_rate))
        return real(source_rate, target_rate)

    monkeypatch.setattr(decode_module, "StreamResampler", spy)
    return made


@pytest.mark.parametrize("url", [PIPELINE, TRANSCRIPTIONS])
async def test_absurd_sample_rate_is_a_400_and_charges_nothing(
    api: httpx.AsyncClient, sqlite_services: Services, url: str, resamplers: list[tuple[int, int]]
) -> None:
    acct = await new_account(sqlite_services, credits=10_000)
    data = flac_silence(655_350, 60)
    response = await api.post(url, headers={"x-api-key": acct.key}, **upload(url, data))
    assert_error_shape(response, 400, "invalid_audio")
    assert "655350 Hz" in response.json()["error"]["message"]
    # Refused from the stream's header, before a frame is decoded or resampled. (A wall-clock
    # bound here, < 0.5 s, failed once in CI at 0.98 s on a busy 2-core machine while the
    # request itself takes ~0.03 s: what matters is that no decoding work is done at all.)
    assert resamplers == []
    await assert_untouched(sqlite_services, acct, 10_000)


@pytest.fixture
def resampled_seconds(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Seconds of audio each resampler the decoder makes has produced so far."""
    produced: list[float] = []
    real = decode_module.StreamResampler

    class Counting(real):  # type: ignore[valid-type,misc]
        def __init__(self, source_rate: int, target_rate: int) -> None:
            super().__init__(source_rate, target_rate)
            self._slot = len(produced)
            produced.append(0.0)

        def process(self, x: Any) -> Any:
            out = super().process(x)
            produced[self._slot] += len(out) / self.dst_rate
            return out

    monkeypatch.setattr(decode_module, "StreamResampler", Counting)
    return produced


@pytest.mark.parametrize(("url", "credits"), [(PIPELINE, 10), (TRANSCRIPTIONS, 4)])
async def test_decode_stops_at_what_the_credit_covers(
    api: httpx.AsyncClient,
    sqlite_services: Services,
    url: str,
    credits: int,
    resampled_seconds: list[float],
) -> None:
    """10 credits buy 5 s of input on the pipeline (5 s are kept for the reply): the 599 s
    bomb is abandoned after those 5 s of output, with a 402 and nothing charged."""
    acct = await new_account(sqlite_services, credits=credits)
    response = await api.post(
        url, headers={"x-api-key": acct.key}, **upload(url, flac_silence(*BOMB))
    )
    assert_error_shape(response, 402, "insufficient_credits")
    # Measured by the work done, not the wall clock (a 0.3 s bound failed once in CI at 1.2 s
    # on a busy 2-core machine): a few seconds of the 599 s file decoded, then abandoned.
    assert len(resampled_seconds) == 1
    assert 0 < resampled_seconds[0] < 10, resampled_seconds
    await assert_untouched(sqlite_services, acct, credits)


@pytest.mark.parametrize("url", [PIPELINE, TRANSCRIPTIONS])
async def test_configured_limits_apply(tmp_path: Path, url: str) -> None:
    svc = await build_services(
        tmp_path, fake_engines(), audio_max_sample_rate=48_000, audio_max_seconds=2.0
    )
    app = create_app(svc.settings, svc)
    acct = await new_account(svc, credits=1000)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            headers = {"x-api-key": acct.key}
            high = await c.post(url, headers=headers, **upload(url, flac_silence(96_000, 1)))
            assert_error_shape(high, 400, "invalid_audio")
            long = await c.post(url, headers=headers, **upload(url, flac_silence(16_000, 3)))
            assert_error_shape(long, 400, "invalid_audio")
            assert "longer than 2 seconds" in long.json()["error"]["message"]
    finally:
        await svc.close()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    svc = await build_services(tmp_path, fake_engines(stt=FakeSTT()))
    async for server in serve_app(svc):
        yield server
    await svc.close()


async def test_funded_bombs_leave_the_server_responsive_and_small(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two funded users each send the 192 kHz bomb (both are decoded in full, 599 s at
    16 kHz) while /healthz is polled: both decodes run on the decode pool's threads, never
    the event loop's, /healthz keeps answering at once, and the process grows by well under
    100 MB. Before, each decode held the loop for ~1.6 s and ~900 MB."""
    decoded_on: list[str] = []
    real_decode = decode_pool.decode_audio

    def spy(*args: Any, **kwargs: Any) -> Any:
        decoded_on.append(threading.current_thread().name)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(decode_pool, "decode_audio", spy)
    accounts = [await new_account(live.services, credits=10_000) for _ in range(2)]
    data = flac_silence(*BOMB)
    async with httpx.AsyncClient(base_url=live.url, timeout=60) as http:
        await http.get("/healthz")
        baseline = _rss_mb()
        peak = baseline
        waits: list[float] = []
        done = threading.Event()

        def poll() -> None:
            # From another thread: the test's own loop is the server's, so an in-loop
            # client would not see the loop blocked while its request is not in flight.
            nonlocal peak
            with httpx.Client(base_url=live.url, timeout=30) as sync:
                while not done.is_set():
                    started = time.perf_counter()
                    assert sync.get("/healthz").status_code == 200
                    waits.append(time.perf_counter() - started)
                    peak = max(peak, _rss_mb())
                    time.sleep(0.02)

        poller = asyncio.create_task(asyncio.to_thread(poll))
        await asyncio.sleep(0.1)
        replies = await asyncio.gather(
            http.post(PIPELINE, headers={"x-api-key": accounts[0].key}, **upload(PIPELINE, data)),
            http.post(
                TRANSCRIPTIONS,
                headers={"x-api-key": accounts[1].key},
                **upload(TRANSCRIPTIONS, data),
            ),
        )
        done.set()
        await poller
    for reply in replies:
        assert reply.status_code == 200, reply.text
    assert replies[0].json()["usage"]["inputSeconds"] == pytest.approx(599, abs=0.01)
    assert replies[1].json()["usage"]["seconds"] == 599
    assert len(decoded_on) == 2 and all(n.startswith("audio-decode") for n in decoded_on)
    # A quantile, not the slowest poll: in CI one poll once took 0.94 s on a loaded 2-core
    # machine (42 threads in the test process), while the same test alone gives 0.01-0.02 s.
    # The loop held by a decode (the defect this guards) would block most polls for seconds.
    waits.sort()
    assert len(waits) >= 10, waits
    assert waits[int(len(waits) * 0.9)] < 0.25, f"/healthz p90 {waits[int(len(waits) * 0.9)]:.2f}s"
    assert peak - baseline < 100, f"grew {peak - baseline:.0f} MB"
