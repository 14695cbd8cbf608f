"""Gateway settings: the model map, URLs, and redaction of anything key-like."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.accounts import make_settings

from realtime2.gateway.upstream import GatewayConfigError, Upstream, parse_model_map


def test_model_map_and_urls(tmp_path: Path) -> None:
    assert parse_model_map(" realtime-pro = gpt-realtime-2 ,, llm=x ") == {
        "realtime-pro": "gpt-realtime-2",
        "llm": "x",
    }
    with pytest.raises(GatewayConfigError):
        parse_model_map("realtime-pro")
    assert Upstream.from_settings(make_settings(tmp_path)) is None
    with pytest.raises(GatewayConfigError):
        Upstream.from_settings(make_settings(tmp_path, upstream_models="a=b"))
    up = Upstream.from_settings(
        make_settings(tmp_path, upstream_url="https://api.example.com/v1/", upstream_api_key="zq-9")
    )
    assert up is not None and up.their_model("realtime-mini") is None
    assert up.ws_url(model="m x") == "wss://api.example.com/v1/realtime?model=m+x"
    assert up.http_url("realtime/calls") == "https://api.example.com/v1/realtime/calls"
    assert "zq-9" not in repr(up)


def test_redaction(tmp_path: Path) -> None:
    up = Upstream.from_settings(
        make_settings(tmp_path, upstream_url="http://h/v1", upstream_api_key="plainsecret")
    )
    assert up is not None
    text = up.redact("Incorrect API key provided: sk-abc***wxyz; also plainsecret and ek_12345678")
    assert "sk-abc" not in text and "plainsecret" not in text and "ek_1234" not in text
