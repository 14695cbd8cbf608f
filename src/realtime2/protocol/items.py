"""Client-supplied conversation items turned into the objects the server stores and echoes."""

from __future__ import annotations

from typing import Any

from realtime2.protocol.client_events import (
    FunctionCallItem,
    FunctionCallOutputItem,
    McpApprovalResponseItem,
    MessageItem,
)
from realtime2.protocol.conversation import Item
from realtime2.protocol.server_events import ProtocolError, new_id

_ALLOWED_PARTS = {
    "system": {"input_text"},
    "user": {"input_text", "input_audio", "input_image"},
    "assistant": {"output_text", "output_audio"},
}


def build_item(
    model: MessageItem | FunctionCallItem | FunctionCallOutputItem | McpApprovalResponseItem,
) -> tuple[Item, str | None]:
    """Returns the stored item and, for a user audio part without transcript, its base64
    audio (to be transcribed; the audio itself is not kept)."""
    if isinstance(model, McpApprovalResponseItem):  # the SDK's item has no object/status
        approval: Item = {
            "id": model.id or new_id("item"),
            "type": "mcp_approval_response",
            "approval_request_id": model.approval_request_id,
            "approve": model.approve,
        }
        if model.reason is not None:
            approval["reason"] = model.reason
        return approval, None
    base: Item = {"id": model.id or new_id("item"), "object": "realtime.item"}
    if isinstance(model, FunctionCallItem):
        base |= {
            "type": "function_call",
            "status": "completed",
            "name": model.name,
            "arguments": model.arguments,
            "call_id": model.call_id or new_id("call"),
        }
        return base, None
    if isinstance(model, FunctionCallOutputItem):
        base |= {
            "type": "function_call_output",
            "status": "completed",
            "call_id": model.call_id,
            "output": model.output,
        }
        return base, None
    content: list[dict[str, Any]] = []
    audio: str | None = None
    for index, part in enumerate(model.content):
        if part.type not in _ALLOWED_PARTS[model.role]:
            raise ProtocolError(
                "invalid_value",
                f"Content type '{part.type}' is not allowed in a {model.role} message.",
                param=f"item.content.{index}.type",
            )
        if part.type in ("input_text", "output_text"):
            content.append({"type": part.type, "text": part.text or ""})
        elif part.type == "input_audio":
            if part.transcript is None and part.audio and audio is None:
                audio = part.audio
            content.append({"type": "input_audio", "transcript": part.transcript})
        elif part.type == "output_audio":
            content.append({"type": "output_audio", "transcript": part.transcript or ""})
        else:
            content.append(
                {
                    "type": "input_image",
                    "image_url": part.image_url,
                    "detail": part.detail or "auto",
                }
            )
    base |= {"type": "message", "role": model.role, "status": "completed", "content": content}
    return base, audio
