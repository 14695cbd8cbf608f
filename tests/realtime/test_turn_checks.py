"""End-of-turn checks through the runner: off the event loop, one at a time, stale ones
skipped, and the answer ends a finished turn after semantic_vad high's 250 ms window."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from realtime2.engine.interfaces import Priority
from realtime2.protocol.commands import CheckTurnEnd
from realtime2.realtime.runner import SessionRunner
from realtime2.realtime.turn_checks import TurnChecks
from tests.support.fakes import FakeTurnModel, b64, fake_engines, silence, tone
from tests.support.runner import Client

pytestmark = pytest.mark.asyncio


async def _session(model: FakeTurnModel | None, eagerness: str = "high") -> Client:
    runner = SessionRunner(fake_engines(turn=model), speculative=False)
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": eagerness}}
                },
            },
        }
    )
    await client.wait_for("session.updated")
    return client


async def _pause_ms(client: Client, limit_ms: int = 3000) -> int | None:
    """Silence at real pace in 20 ms appends until speech_stopped (None: `limit_ms` passed)."""
    for step in range(limit_ms // 20):
        await client.send({"type": "input_audio_buffer.append", "audio": b64(silence(20))})
        await asyncio.sleep(0.02)
        if "input_audio_buffer.speech_stopped" in client.types():
            return (step + 1) * 20
    return None


async def test_the_model_ends_a_finished_turn_after_250_ms() -> None:
    model = FakeTurnModel(probability=0.95, delay=0.05)
    client = await _session(model)
    await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(800))})
    took = await _pause_ms(client)
    assert took is not None and took <= 250 + 64 + 40  # window, two VAD frames, slack
    ((audio, priority),) = model.calls
    assert priority == Priority.FIRST_AUDIO
    assert audio.dtype == np.float32 and 0.8 <= audio.size / 16000 <= 1.3
    assert client.runner.turn_checks is not None and client.runner.turn_checks.checks == 1
    await client.runner.close()


async def test_an_unfinished_turn_waits() -> None:
    client = await _session(FakeTurnModel(probability=0.05))
    await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(800))})
    assert await _pause_ms(client, limit_ms=700) is None  # a 0.7 s mid-sentence pause
    await client.runner.close()


async def test_without_a_model_the_runner_runs_no_checks() -> None:
    client = await _session(None)
    assert client.runner.turn_checks is None
    await client.send({"type": "input_audio_buffer.append", "audio": b64(tone(800))})
    await _pause_ms(client, limit_ms=300)
    assert not any(isinstance(c, CheckTurnEnd) for c in client.runner.session.commands())
    await client.runner.close()


async def _slow_checks() -> tuple[Client, TurnChecks, FakeTurnModel]:
    """A session whose model takes 0.1 s a check; each check's audio is its id / 100."""
    model = FakeTurnModel(probability=0.5, delay=0.1)
    client = await _session(model)
    assert client.runner.turn_checks is not None
    return client, client.runner.turn_checks, model


def _check(check_id: int) -> CheckTurnEnd:
    return CheckTurnEnd("item_x", check_id, np.full(1600, check_id / 100, np.float32), 16000)


async def test_one_check_at_a_time_and_stale_ones_skipped() -> None:
    client, checks, model = await _slow_checks()
    for i in range(1, 4):  # three pauses in quick succession
        checks.submit(_check(i))
    await asyncio.sleep(0.35)
    assert model.max_running == 1
    assert [round(float(a[0]), 2) for a, _ in model.calls] == [0.01, 0.03]  # 2 never ran
    assert checks.skipped == 1 and checks.checks == 2
    await client.runner.close()


async def test_a_check_called_off_is_not_run_nor_waited_for() -> None:
    client, checks, model = await _slow_checks()
    checks.submit(_check(1))
    checks.submit(_check(2))  # waits behind 1
    checks.cancel(2)  # its pause is over: it never runs
    await asyncio.sleep(0.2)
    assert [round(float(a[0]), 2) for a, _ in model.calls] == [0.01]
    assert (checks.checks, checks.cancelled) == (1, 1)
    # A running check called off: its answer is not waited for; the next one runs at once.
    checks.submit(_check(3))
    await asyncio.sleep(0.02)
    checks.cancel(3)
    checks.submit(_check(4))
    await asyncio.sleep(0.05)
    assert [round(float(a[0]), 2) for a, _ in model.calls] == [0.01, 0.03, 0.04]
    await asyncio.sleep(0.15)
    assert (checks.checks, checks.cancelled) == (2, 2)
    await client.runner.close()


async def test_audio_at_another_rate_is_resampled_for_the_model() -> None:
    model = FakeTurnModel()
    client = await _session(model)
    checks = client.runner.turn_checks
    assert checks is not None
    checks.submit(CheckTurnEnd("item_x", 1, np.zeros(8000, np.float32), 8000))
    await asyncio.sleep(0.05)
    ((audio, _),) = model.calls
    assert audio.size == 16000
    await client.runner.close()


class _BusyGate:
    has_idle_core = False


async def test_a_check_asked_at_a_fade_is_declined_while_no_core_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, checks, model = await _slow_checks()
    monkeypatch.setattr("realtime2.realtime.turn_checks.process_gate", lambda: _BusyGate())
    fade = CheckTurnEnd("item_x", 1, np.full(1600, 0.01, np.float32), 16000, at_fade=True)
    checks.submit(fade)
    await asyncio.sleep(0.05)
    assert model.calls == [] and checks.declined == 1  # not run: the pause asks instead
    checks.submit(_check(2))  # a pause's check runs whatever the machine is doing
    await asyncio.sleep(0.15)
    assert [round(float(a[0]), 2) for a, _ in model.calls] == [0.02]
    await client.runner.close()
