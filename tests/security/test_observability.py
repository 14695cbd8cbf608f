"""/metrics and structured logs: what a full pipeline request and a realtime session leave
behind. Logs carry request and session ids; never a key, client secret, transcript, prompt
or reply."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from realtime2.logging_setup import configure_logging
from realtime2.observability import metrics
from tests.support.accounts import new_account
from tests.support.audio_files import wav_bytes
from tests.support.fakes import FakeLLM, FakeSTT, b64, fake_engines, silence, tone
from tests.support.server import build_services, serve_app

TRANSCRIPT = "ZEBRA transcript words spoken by the user"
PROMPT = "QUOKKA typed user prompt"
INSTRUCTIONS = "NARWHAL system instructions"
REPLY = "AXOLOTL reply from the model. "
CHAT = "PANGOLIN realtime chat text"


def sample(name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels` (0 when absent):
    e.g. sessions by transport, whatever their model (other tests add other series)."""
    text = metrics.generate_latest(metrics.REGISTRY).decode()
    return sum(
        float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_and_logs_of_a_pipeline_request_and_a_realtime_session(
    tmp_path: Path,
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("debug", "json", stream=stream)
    try:
        key, secret = await _exercise(tmp_path)
    finally:
        root.handlers[:], root.level = saved
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    assert lines, "the run logged nothing"
    text = stream.getvalue()
    for content in (TRANSCRIPT, PROMPT, INSTRUCTIONS, REPLY.strip(), CHAT):
        assert content not in text, f"{content!r} reached the logs"
    # Neither the key nor the client secret, nor any long enough piece of them.
    for value in (key, secret):
        pieces = {value[i : i + 16] for i in range(0, len(value) - 16)}
        assert not [p for p in pieces if p in text], "a key or secret reached the logs"
    assert all({"request_id", "session_id", "msg"} <= set(line) for line in lines)
    assert any(line["session_id"].startswith("pipe_") for line in lines)
    assert any(line["request_id"].startswith("req_") for line in lines)


async def _exercise(tmp_path: Path) -> tuple[str, str]:
    engines = fake_engines(stt=FakeSTT(text=TRANSCRIPT), llm=FakeLLM(script=(REPLY,)))
    svc = await build_services(tmp_path, engines)
    before = {
        "ws_sessions": sample("realtime2_sessions_total", transport="websocket"),
        "turns": sample("realtime2_turn_latency_seconds_count", transport="websocket"),
        "credits_sv": sample("realtime2_credits_charged_total", model="starter-voice"),
        "credits_mini": sample("realtime2_credits_charged_total", model="realtime-mini"),
        "unauth": sample("realtime2_errors_total", code="unauthorized"),
        "pipe_ok": sample(
            "realtime2_http_requests_total",
            route="/api/realtime2/pipeline",
            method="POST",
            status="200",
        ),
    }
    async for live in serve_app(svc):
        acct = await new_account(svc, credits=10_000)
        headers = {"x-api-key": acct.key}
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            reply = await http.post(
                "/api/realtime2/pipeline",
                headers=headers,
                data={"model": "starter-voice", "text": PROMPT, "instructions": INSTRUCTIONS},
                files={"audio": ("q.wav", wav_bytes(1.0), "audio/wav")},
            )
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-request-id"].startswith("req_")
            assert (await http.get("/api/realtime2/me")).status_code == 401
            minted = await http.post("/v1/realtime/client_secrets", headers=headers, json={})
            assert minted.status_code == 200, minted.text
            secret = minted.json()["value"]
            exposition = (await http.get("/metrics")).text
            assert "realtime2_http_requests_total" in exposition

        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with connect(
            live.ws_url + "?model=realtime-mini",
            subprotocols=protocols,  # type: ignore[arg-type]
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            # A typed message, then a spoken turn the server VAD ends by itself.
            item = {"type": "message", "role": "user"}
            item["content"] = [{"type": "input_text", "text": CHAT}]  # type: ignore[assignment]
            await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
            for chunk in (tone(600), silence(900)):
                event = {"type": "input_audio_buffer.append", "audio": b64(chunk)}
                await ws.send(json.dumps(event))
            async with asyncio.timeout(10):
                while json.loads(await ws.recv())["type"] != "response.done":
                    pass
        for _ in range(100):  # the server settles just after the socket closes
            if not (await svc.ledger.balance(acct.user_id)).held:
                break
            await asyncio.sleep(0.05)
        # (inside the block: the services close with the server)
        spent = 10_000 - (await svc.ledger.balance(acct.user_id)).available

    assert sample("realtime2_sessions_total", transport="websocket") == before["ws_sessions"] + 1
    assert sample("realtime2_sessions_active", transport="websocket") == 0
    assert sample("realtime2_turn_latency_seconds_count", transport="websocket") >= (
        before["turns"] + 1
    )
    charged_sv = sample("realtime2_credits_charged_total", model="starter-voice")
    charged_mini = sample("realtime2_credits_charged_total", model="realtime-mini")
    assert charged_sv > before["credits_sv"] and charged_mini > before["credits_mini"]
    assert (charged_sv - before["credits_sv"]) + (charged_mini - before["credits_mini"]) == spent
    assert sample("realtime2_errors_total", code="unauthorized") == before["unauth"] + 1
    assert (
        sample(
            "realtime2_http_requests_total",
            route="/api/realtime2/pipeline",
            method="POST",
            status="200",
        )
        == before["pipe_ok"] + 1
    )
    return acct.key, secret
