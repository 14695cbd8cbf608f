"""`input_image` content reaches an LLM that declares vision, and is refused by name
otherwise: a text-only model must never answer as if it had seen the picture (issue 23)."""

from __future__ import annotations

from typing import Any

from realtime2.engine.interfaces import ChatMessage, ImageInput
from realtime2.protocol import commands as cmd
from realtime2.protocol.conversation import to_messages
from realtime2.protocol.limits import ConversationLimits
from tests.support.harness import Harness
from tests.support.images import PNG


def _image_item() -> dict[str, Any]:
    content = [
        {"type": "input_text", "text": "What is in this picture?"},
        {"type": "input_image", "image_url": PNG, "detail": "low"},
    ]
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": content},
    }


def test_image_is_refused_naming_the_part_without_vision() -> None:
    h = Harness()
    new = h.send(_image_item())
    assert [e["type"] for e in new] == ["error"]
    error = new[0]["error"]
    assert error["code"] == "unsupported_content"
    assert error["param"] == "item.content.1.image_url"
    assert "image" in error["message"]
    assert len(h.session.conversation) == 0


def test_inline_image_in_response_input_is_refused_too() -> None:
    h = Harness()
    item = _image_item()["item"]
    new = h.send({"type": "response.create", "response": {"input": [item]}})
    error = next(e for e in new if e["type"] == "error")["error"]
    assert error["code"] == "unsupported_content"
    assert error["param"] == "response.input.0.content.1.image_url"


def test_image_reaches_the_llm_request_with_vision() -> None:
    h = Harness(limits=ConversationLimits(images=True))
    assert h.send(_image_item())[0]["type"] == "conversation.item.added"
    h.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    start = next(c for c in h.commands if isinstance(c, cmd.StartResponse))
    user = [m for m in start.request.messages if m.role == "user"]
    image = ImageInput(PNG, "low")  # the client's detail travels with the image
    assert user == [ChatMessage("user", "What is in this picture?", images=(image,))]


def test_image_only_message_is_kept() -> None:
    item = {
        "id": "i1",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_image", "image_url": PNG}],
    }
    assert to_messages([item]) == [ChatMessage("user", "", images=(ImageInput(PNG, "auto"),))]
