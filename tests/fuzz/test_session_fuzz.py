"""Property tests of the sans-I/O Realtime core under hostile input.

Whatever a client sends — schema-shaped events with mutated fields, random JSON, broken
text, odd-length audio — the session never raises, every event it emits validates against
the SDK's union (`Harness.drain` checks that), and input that is not an event object gets
an `error` event naming the problem.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime2.protocol.client_events import CLIENT_EVENT_TYPES
from tests.support.harness import Harness
from tests.support.strategies import client_events, random_json

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# One step of a hostile client: an event, any JSON, raw text, raw bytes, or audio frames.
steps = st.one_of(
    client_events.map(lambda e: ("event", e)),
    random_json.map(lambda v: ("json", v)),
    st.text(max_size=60).map(lambda t: ("text", t)),
    st.binary(max_size=60).map(lambda b: ("bytes", b)),
    st.binary(max_size=3000).map(lambda b: ("audio", b)),
    st.floats(0, 5).map(lambda s: ("wait", s)),
)


def _apply(h: Harness, step: tuple[str, Any]) -> list[dict[str, Any]]:
    kind, value = step
    if kind == "event":
        return h.send(json.dumps(value))
    if kind == "json":
        return h.send(json.dumps(value))
    if kind == "text":
        return h.send(value)
    if kind == "bytes":
        h.session.receive_text(value)
        return h.drain()
    if kind == "audio":
        h.session.receive_audio(value, 48000)
        return h.drain()
    h.clock.advance(value)
    h.session.tick()
    return h.drain()


@pytest.mark.parametrize("kind", ["realtime", "transcription"])
@FUZZ
@given(script=st.lists(steps, min_size=1, max_size=10))
def test_any_client_input_yields_valid_events(kind: str, script: list[tuple[str, Any]]) -> None:
    h = Harness(kind=kind)
    for step in script:
        _apply(h, step)


@FUZZ
@given(event=client_events)
def test_every_event_type_is_answered_or_applied(event: dict[str, Any]) -> None:
    h = Harness()
    new = h.send(json.dumps(event))
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_EVENT_TYPES:
        assert [e["type"] for e in new] == ["error"]
    for error in (e for e in new if e["type"] == "error"):
        assert error["error"]["message"]
        if isinstance(event.get("event_id"), str) and event["event_id"]:
            assert error["error"].get("event_id") == event["event_id"]


@FUZZ
@given(value=random_json | st.text(max_size=80))
def test_anything_but_an_event_object_is_an_error(value: Any) -> None:
    h = Harness()
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("type") in CLIENT_EVENT_TYPES:
        return  # a real event by chance; covered above
    new = h.send(text)
    assert [e["type"] for e in new] == ["error"], new


def test_huge_values_are_refused_not_crashing() -> None:
    h = Harness()
    huge = "A" * (21 * 1024 * 1024)  # base64 of ~16 MB: past the 15 MB append limit
    new = h.send({"type": "input_audio_buffer.append", "audio": huge, "event_id": "big"})
    assert [e["type"] for e in new] == ["error"]
    assert new[0]["error"]["event_id"] == "big"
    new = h.send({"type": "session.update", "session": {"type": "realtime", "instructions": huge}})
    assert new and all(e["type"] in ("error", "session.updated") for e in new)
    new = h.send({"type": "conversation.item.truncate", "item_id": "x", "audio_end_ms": 10**30})
    assert [e["type"] for e in new] == ["error"]


def test_deeply_nested_json_is_an_error_event() -> None:
    h = Harness()
    for deep in ("[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        assert [e["type"] for e in h.send(deep)] == ["error"]
    assert [e["type"] for e in h.send({"type": "input_audio_buffer.clear"})] == [
        "input_audio_buffer.cleared"
    ]


def test_session_prompt_without_id_does_not_break_session_updated() -> None:
    h = Harness()
    h.send({"type": "session.update", "session": {"type": "realtime", "prompt": {}}})
