"""`openai-agents`' realtime agent with an MCP server (its own client: the agents SDK turns
the server's tools into function tools) through a spoken turn on this server, with a real
MCP server on loopback and fake models (the fake LLM calls `add`, then speaks the result)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from agents.mcp import MCPServerStreamableHttp
from agents.realtime import RealtimeAgent, RealtimeRunner

from tests.support.accounts import new_account
from tests.support.fakes import FakeSTT, fake_engines, pcm16, silence, tone
from tests.support.mcp_server import ToolThenAnswer, live_mcp
from tests.support.server import build_services, serve_app


async def test_a_realtime_agent_with_an_mcp_server_answers_with_its_tool(tmp_path: Path) -> None:
    llm = ToolThenAnswer()
    engines = fake_engines(stt=FakeSTT("What is two plus three?"), llm=llm)
    services = await build_services(tmp_path, engines)
    seen: list[Any] = []
    try:
        async with live_mcp() as mcp:
            async for server in serve_app(services):
                account = await new_account(server.services, credits=100_000)
                async with MCPServerStreamableHttp(params={"url": mcp.url}, name="math") as tools:
                    agent = RealtimeAgent(name="calc", instructions="Add.", mcp_servers=[tools])
                    url = server.ws_url + "?model=realtime-mini"
                    config: Any = {
                        "model_settings": {
                            "voice": "marin",
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
                        }
                    }
                    runner = RealtimeRunner(agent, config=config)
                    model_config: Any = {"url": url, "api_key": account.key}
                    async with await runner.run(model_config=model_config) as session:
                        speech = np.concatenate([silence(200), tone(700), silence(5000)])
                        await session.send_audio(pcm16(speech))

                        async def listen() -> None:
                            async for event in session:
                                seen.append(event)
                                done = event.type == "audio_end" and any(
                                    e.type == "tool_end" for e in seen
                                )
                                if done or event.type == "error":
                                    return

                        await asyncio.wait_for(listen(), 20)
    finally:
        await services.close()
    kinds = [e.type for e in seen]
    assert "error" not in kinds, [e for e in seen if e.type == "error"]
    (tool_end,) = [e for e in seen if e.type == "tool_end"]
    assert tool_end.tool.name == "add" and "5" in str(tool_end.output)
    assert "audio" in kinds
    assert llm.requests[-1].messages[-1].role == "tool"
