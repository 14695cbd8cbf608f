"""A conversation cannot be grown without bound: items too large or too many are refused
with an `error` naming the field, and the session goes on (issue 15, unbounded growth)."""

from __future__ import annotations

from typing import Any

from realtime2.protocol.limits import ConversationLimits
from tests.support.harness import Harness


def _text_item(text: str, role: str = "user") -> dict[str, Any]:
    kind = "output_text" if role == "assistant" else "input_text"
    content = [{"type": kind, "text": text}]
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": role, "content": content},
    }


def _only_error(new: list[dict[str, Any]]) -> dict[str, Any]:
    assert [e["type"] for e in new] == ["error"], [e["type"] for e in new]
    error: dict[str, Any] = new[0]["error"]
    return error


def test_the_reported_attack_grows_nothing() -> None:
    """60 items of 5 MB each were all stored before; now each is refused by name."""
    h = Harness()
    big = "x" * (5 * 1024 * 1024)
    for _ in range(60):
        error = _only_error(h.send(_text_item(big)))
        assert error["code"] == "item_too_large"
        assert error["param"] == "item.content.0.text"
        assert error["type"] == "invalid_request_error"
    assert len(h.session.conversation) == 0
    assert h.send(_text_item("still here"))[0]["type"] == "conversation.item.added"


def test_item_limit_counts_every_text_field() -> None:
    h = Harness(limits=ConversationLimits(max_item_bytes=100))
    # Multi-byte text counts in UTF-8 bytes: 40 characters of 3 bytes each is 120.
    error = _only_error(h.send(_text_item("€" * 40)))
    assert error["param"] == "item.content.0.text"
    output = {"type": "function_call_output", "call_id": "c1", "output": "y" * 101}
    error = _only_error(h.send({"type": "conversation.item.create", "item": output}))
    assert (error["code"], error["param"]) == ("item_too_large", "item.output")
    call = {"type": "function_call", "name": "f", "arguments": "z" * 200}
    error = _only_error(h.send({"type": "conversation.item.create", "item": call}))
    assert error["param"] == "item.arguments"
    # The sum of several parts counts, and the error names the part that crossed.
    parts = [{"type": "input_text", "text": "a" * 60}, {"type": "input_text", "text": "b" * 60}]
    item = {"type": "message", "role": "user", "content": parts}
    error = _only_error(h.send({"type": "conversation.item.create", "item": item}))
    assert error["param"] == "item.content.1.text"
    assert h.send(_text_item("a" * 100))[0]["type"] == "conversation.item.added"


def test_inline_response_input_is_checked_too() -> None:
    h = Harness(limits=ConversationLimits(max_item_bytes=100))
    item = _text_item("q" * 101)["item"]
    create = {"type": "response.create", "response": {"conversation": "none", "input": [item]}}
    error = _only_error(h.send(create))
    assert (error["code"], error["param"]) == ("item_too_large", "response.input.0.content.0.text")
    assert not h.session.responses


def test_item_count_is_bounded_and_delete_makes_room() -> None:
    h = Harness(limits=ConversationLimits(max_items=5))
    for i in range(5):
        assert h.send(_text_item(f"item {i}"))[0]["type"] == "conversation.item.added"
    error = _only_error(h.send({**_text_item("one more"), "event_id": "evt_x"}))
    assert (error["code"], error["param"], error["event_id"]) == (
        "conversation_full",
        "item",
        "evt_x",
    )
    assert len(h.session.conversation) == 5
    first = h.session.conversation.items[0]["id"]
    h.send({"type": "conversation.item.delete", "item_id": first})
    assert h.send(_text_item("fits again"))[0]["type"] == "conversation.item.added"


def test_conversation_bytes_are_bounded() -> None:
    h = Harness(limits=ConversationLimits(max_item_bytes=1000, max_bytes=2500))
    for _ in range(2):
        assert h.send(_text_item("m" * 1000))[0]["type"] == "conversation.item.added"
    error = _only_error(h.send(_text_item("m" * 501)))
    assert (error["code"], error["param"]) == ("conversation_full", "item")
    assert h.send(_text_item("m" * 500))[0]["type"] == "conversation.item.added"
    # The session is still fully usable.
    new = h.send({"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    assert [e["type"] for e in new] == ["session.updated"]


def test_item_audio_is_capped_before_decoding() -> None:
    h = Harness()
    audio = "A" * (21 * 1024 * 1024)  # base64 of ~15.75 MB
    content = [{"type": "input_audio", "audio": audio}]
    event = {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": content},
    }
    error = _only_error(h.send(event))
    assert (error["code"], error["param"]) == ("item_too_large", "item.content")
    assert len(h.session.conversation) == 0
