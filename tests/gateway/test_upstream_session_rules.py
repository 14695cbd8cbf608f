"""In gateway mode a relayed session's config is judged by what the upstream serves (the
SDK's session types), not by the embedded engine's rules: client secrets and
`/v1/realtime/calls` accept `tools` of type `mcp` for a relayed model, still refuse what
no upstream takes, and the local rules stay for sessions served here (issue 23; MCP tools
are served here too since issue 21, by the local rules)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.gateway import created_event, fake_upstream, gateway_to
from tests.support.mcp_server import live_mcp
from tests.support.server import build_services, serve_app
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection

MCP = {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.example.com/sse"}
SESSION: dict[str, Any] = {"type": "realtime", "model": "gpt-realtime", "tools": [MCP]}
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def echo(ws: ServerConnection) -> None:
    await ws.send(created_event())
    async for frame in ws:
        await ws.send(frame)


async def test_relayed_client_secret_takes_mcp_tools_to_the_upstream(tmp_path: Path) -> None:
    async with fake_upstream(echo) as upstream, gateway_to(tmp_path, upstream.url, "sk-up") as a:
        user = await new_account(a.services, credits=1000)
        async with httpx.AsyncClient(base_url=a.url) as http:
            headers = {"x-api-key": user.key}
            minted = await http.post(
                "/v1/realtime/client_secrets", headers=headers, json={"session": SESSION}
            )
            assert minted.status_code == 200, minted.text
            assert minted.json()["session"]["tools"] == [MCP]
            bogus = {"type": "realtime", "tools": [{"type": "bogus"}]}
            refused = await http.post(
                "/v1/realtime/client_secrets", headers=headers, json={"session": bogus}
            )
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == "session.tools.0.type"
        secret = minted.json()["value"]
        protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
        async with connect(
            a.ws_url + "?model=gpt-realtime",
            subprotocols=protocols,  # type: ignore[arg-type]
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            bound = json.loads(await ws.recv())  # what reached the upstream, echoed
        assert bound["session"]["tools"] == [MCP]


async def test_relayed_call_is_not_refused_for_mcp_tools(tmp_path: Path) -> None:
    async with fake_upstream(echo) as upstream, gateway_to(tmp_path, upstream.url, "sk-up") as a:
        user = await new_account(a.services, credits=10_000)
        async with httpx.AsyncClient(base_url=a.url) as http:
            headers = {"x-api-key": user.key}
            files = {"sdp": (None, SDP), "session": (None, json.dumps(SESSION))}
            response = await http.post("/v1/realtime/calls", headers=headers, files=files)
            # The upstream (a socket-only fake here) cannot take the call; what matters is
            # that the gateway did not refuse the config by the embedded engine's rules.
            assert response.json().get("error", {}).get("param") != "session.tools.0.type"
            bogus = {"type": "realtime", "tools": [{"type": "bogus"}]}
            files = {"sdp": (None, SDP), "session": (None, json.dumps(bogus))}
            response = await http.post("/v1/realtime/calls", headers=headers, files=files)
            assert response.status_code == 400
            assert response.json()["error"]["param"] == "session.tools.0.type"


async def test_sessions_served_here_keep_the_local_rules(tmp_path: Path) -> None:
    """MCP tools are served here too (issue 21), by the local rules: OpenAI's connectors
    are refused by name, and the session shown never carries the authorization."""
    svc = await build_services(tmp_path, fake_engines())
    async for live in serve_app(svc):
        user = await new_account(svc, credits=1000)
        async with httpx.AsyncClient(base_url=live.url) as http:
            secret_tool = {**MCP, "authorization": "tok-1"}
            minted = await http.post(
                "/v1/realtime/client_secrets",
                headers={"x-api-key": user.key},
                json={"session": {**SESSION, "tools": [secret_tool]}},
            )
            connector = {**MCP, "connector_id": "connector_gmail"}
            refused = await http.post(
                "/v1/realtime/client_secrets",
                headers={"x-api-key": user.key},
                json={"session": {**SESSION, "tools": [connector]}},
            )
        assert minted.status_code == 200, minted.text
        assert minted.json()["session"]["tools"][0]["server_label"] == "docs"
        assert "tok-1" not in minted.text
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "session.tools.0.connector_id"


async def test_translation_secret_session_goes_to_a_relayed_upstream(tmp_path: Path) -> None:
    b_services = await build_services(tmp_path / "b", fake_engines())
    async for b in serve_app(b_services):
        upstream = await new_account(b.services, credits=100_000)
        models = "translation=gpt-realtime-translate"
        async with gateway_to(tmp_path, b.url + "/v1", upstream.key, upstream_models=models) as a:
            user = await new_account(a.services, credits=1000)
            async with httpx.AsyncClient(base_url=a.url) as http:
                minted = await http.post(
                    "/v1/realtime/translations/client_secrets",
                    headers={"x-api-key": user.key},
                    json={
                        "session": {
                            "model": "gpt-realtime-translate",
                            "audio": {"output": {"language": "fr"}},
                        }
                    },
                )
            assert minted.status_code == 200, minted.text
            headers = {"Authorization": f"Bearer {minted.json()['value']}"}
            url = a.url.replace("http://", "ws://") + "/v1/realtime/translations"
            async with connect(url, additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
                updated = json.loads(await ws.recv())  # B applied the secret's session
            assert updated["type"] == "session.updated"
            assert updated["session"]["audio"]["output"]["language"] == "fr"


async def test_relayed_session_update_takes_mcp_tools_upstream_untouched(tmp_path: Path) -> None:
    """Gateway mode: the upstream runs the MCP tools; this server fetches nothing."""
    async with (
        live_mcp() as mcp,
        fake_upstream(echo) as upstream,
        gateway_to(tmp_path, upstream.url, "sk-up") as a,
    ):
        user = await new_account(a.services, credits=1000)
        tool = {
            "type": "mcp",
            "server_label": "math",
            "server_url": mcp.url,
            "authorization": "tok-up",
            "connector_id": "connector_gmail",
        }
        update = {"type": "session.update", "session": {"type": "realtime", "tools": [tool]}}
        async with connect(
            a.ws_url + "?model=gpt-realtime", additional_headers={"x-api-key": user.key}
        ) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"
            await ws.send(json.dumps(update))
            echoed = json.loads(await ws.recv())  # what reached the upstream
        assert echoed["session"]["tools"] == [tool]
        assert mcp.requests == []
