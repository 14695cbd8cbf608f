"""Starter Voice through gateway A: its STT, LLM and TTS roles call upstream B."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr
from tests.support.accounts import new_account, settled
from tests.support.fakes import FakeVAD, fake_engines
from tests.support.server import build_services, serve_app

from realtime2.engine.config import EngineSettings
from realtime2.engine.interfaces import Engines
from realtime2.engine.registry import build_llm, build_stt, build_tts
from realtime2.gateway.pipeline import engine_settings
from realtime2.gateway.upstream import Upstream


def upstream(url: str, key: str, models: dict[str, str], pipeline: bool = True) -> Upstream:
    return Upstream(url, SecretStr(key), models, pipeline=pipeline)


def test_engine_settings_point_the_roles_upstream() -> None:
    base = EngineSettings().configure("tts", "openai", select=False, base_url="http://tts.local/v1")
    off = engine_settings(upstream("http://up/v1", "k", {}, pipeline=False), base)
    assert (off.stt_backend, off.llm_backend) == ("local", "local")
    on = engine_settings(upstream("http://up/v1", "sk-up", {"llm": "their-llm"}), base)
    assert (on.stt_backend, on.llm_backend, on.tts_backend) == ("openai", "openai", "openai")
    llm = on.options("llm").remote()
    assert (llm.base_url, llm.model) == ("http://up/v1", "their-llm")
    assert llm.api_key is not None and llm.api_key.get_secret_value() == "sk-up"
    assert on.options("stt").model == base.options("stt", "openai").model  # unlisted: default
    assert on.options("tts").remote().base_url == "http://tts.local/v1"  # an explicit URL wins
    assert on.vad_backend == base.vad_backend


async def test_pipeline_request_runs_on_the_upstream(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        up = await new_account(b.services, credits=100_000)
        gateway = upstream(b.url + "/v1", up.key, {"llm": "upstream-llm"})
        settings = engine_settings(gateway, EngineSettings(_env_file=None))
        remote = Engines(
            vad=FakeVAD(),
            stt=build_stt(settings),
            llm=build_llm(settings),
            tts=build_tts(settings),
        )
        a_services = await build_services(tmp_path / "a", remote)
        async for a in serve_app(a_services):
            user = await new_account(a.services, credits=1000)
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.post(
                    a.url + "/api/realtime2/pipeline",
                    headers={"x-api-key": user.key},
                    data={"model": "starter-voice", "voice": "marin", "text": "Hi there."},
                )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["model"] == "upstream-llm" and body["modelId"] == "starter-voice"
            assert body["assistantText"] == "Hi there. How can I help?"  # B's fake LLM
            assert len(body["audioBase64"]) > 100
            # A billed its user; B billed the upstream account (chat + speech), never A's user.
            assert 1 <= await settled(a.services, user.user_id) <= 10
            assert await settled(b.services, up.user_id) > 0
            b_keys = {e.api_key_id for e in await b.services.ledger.entries(up.user_id)}
            assert b_keys <= {up.key_id, None}
