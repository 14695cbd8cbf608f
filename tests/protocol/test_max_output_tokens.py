"""`max_output_tokens`: the LLM's own reply cap is shown where "inf" would promise more,
and a response is `incomplete` (`max_output_tokens`) only when the client's own limit
ended it."""

from __future__ import annotations

from typing import Any

from realtime2.engine.interfaces import TokenUsage
from realtime2.protocol import commands as cmd
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import FakeLLM, fake_engines
from tests.support.harness import Harness
from tests.support.runner import Client


def _run(h: Harness, response: dict[str, Any] | None = None) -> tuple[int | None, dict[str, Any]]:
    """One response that stops at its length limit: (the LLM's max_tokens, response.done)."""
    h.send({"type": "response.create", **({"response": response} if response else {})})
    (start,) = h.take(cmd.StartResponse)
    h.session.on_response_done(start.response_id, "length", TokenUsage(3, 2))
    h.drain()
    return start.request.max_tokens, h.of("response.done")[-1]["response"]


def _update(h: Harness, value: int | str) -> dict[str, Any]:
    h.send({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": value}})
    return dict(h.of("session.updated")[-1]["session"])


def test_the_engine_cap_is_shown_and_its_cut_is_not_the_clients_limit() -> None:
    h = Harness(token_cap=200)
    assert h.of("session.created")[0]["session"]["max_output_tokens"] == 200
    max_tokens, done = _run(h)
    assert max_tokens == 200 and done["max_output_tokens"] == 200
    assert done["status"] == "completed" and done["status_details"] is None
    # "inf" asks for the most the engine gives: its cap, shown as such.
    assert _update(h, "inf")["max_output_tokens"] == 200
    assert _run(h)[1]["status"] == "completed"
    assert _run(h, {"max_output_tokens": "inf"})[1]["status"] == "completed"


def test_the_clients_own_limit_makes_the_response_incomplete() -> None:
    h = Harness(token_cap=200)
    assert _update(h, 50)["max_output_tokens"] == 50
    max_tokens, done = _run(h)
    assert max_tokens == 50
    assert done["status"] == "incomplete"
    assert done["status_details"]["reason"] == "max_output_tokens"
    # A response's own limit, over the session's "inf".
    _update(h, "inf")
    max_tokens, done = _run(h, {"max_output_tokens": 20})
    assert max_tokens == 20 and done["status_details"]["reason"] == "max_output_tokens"
    assert _run(h)[1]["status"] == "completed"


def test_without_an_engine_cap_inf_stays_inf() -> None:
    h = Harness()
    assert h.of("session.created")[0]["session"]["max_output_tokens"] == "inf"
    max_tokens, done = _run(h)
    assert max_tokens is None and done["status"] == "completed"


async def test_the_runner_shows_the_llms_cap_in_session_created() -> None:
    llm = FakeLLM()
    llm.capabilities = type(llm.capabilities)(
        streaming=True, tools=True, context_tokens=2048, max_output_tokens=123
    )
    runner = SessionRunner(fake_engines(llm=llm))
    runner.start()
    created = await Client(runner).wait_for("session.created")
    assert created["session"]["max_output_tokens"] == 123
    await runner.close()
