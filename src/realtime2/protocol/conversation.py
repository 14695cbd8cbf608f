"""The conversation: ordered items as the client sees them, plus what the LLM needs.

Items are stored as the JSON objects clients receive (`conversation.item.*` events carry
copies). Assistant audio items also keep a timeline of which text was spoken when, so a
`conversation.item.truncate` can cut the transcript to what the listener actually heard.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from realtime2.engine.interfaces import ChatMessage, ImageInput, ToolCall
from realtime2.protocol.limits import ConversationLimits, check_item, check_room
from realtime2.protocol.server_events import ProtocolError, new_id

Item = dict[str, Any]


@dataclass
class SpokenTimeline:
    """Sentence start times (ms into the item's audio) and the text spoken from there."""

    segments: list[tuple[float, str]] = field(default_factory=list)
    duration_ms: float = 0.0

    def text_until(self, end_ms: float) -> str:
        out: list[str] = []
        for i, (start, text) in enumerate(self.segments):
            if start >= end_ms:
                break
            stop = self.segments[i + 1][0] if i + 1 < len(self.segments) else self.duration_ms
            if stop <= end_ms or stop <= start:
                out.append(text)
                continue
            # Cut inside this sentence proportionally, on a word boundary.
            keep = int(len(text) * (end_ms - start) / (stop - start))
            head = text[:keep]
            if keep < len(text) and not text[keep : keep + 1].isspace():
                head = head.rsplit(" ", 1)[0] if " " in head.strip() else ""
            out.append(head.rstrip())
            break
        return "".join(out).rstrip()


class Conversation:
    def __init__(self, limits: ConversationLimits | None = None) -> None:
        self.id = new_id("conv")  # the `conversation_id` of responses written to it
        self._items: list[Item] = []
        self.timelines: dict[str, SpokenTimeline] = {}
        self.limits = limits or ConversationLimits()

    def __contains__(self, item_id: str) -> bool:
        return any(i["id"] == item_id for i in self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[Item]:
        return list(self._items)

    @property
    def last_id(self) -> str | None:
        return self._items[-1]["id"] if self._items else None

    def get(self, item_id: str) -> Item:
        for item in self._items:
            if item["id"] == item_id:
                return item
        raise ProtocolError(
            "item_not_found", f"Item with id '{item_id[:64]}' not found.", param="item_id"
        )

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` ("root" = first; None = last). Returns the
        id of the item now before it."""
        if item["id"] in self:
            raise ProtocolError(
                "item_already_exists", f"Item '{item['id'][:64]}' already exists.", param="item.id"
            )
        if previous_item_id is None:
            before = self.last_id
            self._items.append(item)
            return before
        if previous_item_id == "root":
            self._items.insert(0, item)
            return None
        index = next((i for i, x in enumerate(self._items) if x["id"] == previous_item_id), None)
        if index is None:
            raise ProtocolError(
                "previous_item_not_found",
                f"Previous item with id '{previous_item_id[:64]}' not found.",
                param="previous_item_id",
            )
        self._items.insert(index + 1, item)
        return previous_item_id

    def admit(self, item: Item) -> None:
        """Refuse a client's item that is too large or finds the conversation full."""
        check_room(self._items, check_item(item, self.limits, param="item"), self.limits)

    def delete(self, item_id: str) -> None:
        item = self.get(item_id)
        self._items.remove(item)
        self.timelines.pop(item_id, None)

    def snapshot(self, item_id: str) -> Item:
        return copy.deepcopy(self.get(item_id))


def _as_function_call(item: Item, items: list[Item]) -> Item | None:
    """An MCP item as the function call the LLM made (its answer put beside it), or None."""
    kind = item["type"]
    if kind == "mcp_call":
        error = item.get("error")
        if error is not None:
            answer = f"Error: {error.get('message', '')}"
        elif item.get("output") is not None:
            answer = str(item["output"])
        else:
            return None  # still running
    elif kind == "mcp_approval_request":
        denials = [
            i
            for i in items
            if i["type"] == "mcp_approval_response"
            and i["approval_request_id"] == item["id"]
            and not i["approve"]
        ]
        if not denials:
            return None  # waiting, or approved (its mcp_call tells the rest)
        reason = denials[0].get("reason")
        answer = "The user did not approve this call" + (f": {reason}" if reason else ".")
    else:
        return None
    return {
        "id": item["id"],
        "type": "function_call",
        "name": item["name"],
        "arguments": item["arguments"],
        "call_id": item["id"],
        "_output": answer,
    }


def _call_id(item: Item) -> str:
    return str(item.get("call_id") or item["id"])


def to_messages(items: list[Item]) -> list[ChatMessage]:
    """Conversation items as chat messages; consecutive function calls share one turn.

    Chat APIs want every tool call answered right after the turn that made it, so each
    call's output (wherever it sits in the conversation) follows its call's turn, and a
    call still waiting for its output is left out: the conversation goes on while it runs,
    as OpenAI's asynchronous function calling does, and the call is shown once answered.
    MCP calls read the same way: an `mcp_call` with its output (or error) is a call and
    its answer, and an `mcp_approval_request` the user declined is a call answered so.
    """
    items = [_as_function_call(item, items) or item for item in items]
    outputs = {
        str(item["call_id"]): item for item in items if item["type"] == "function_call_output"
    }
    outputs |= {str(i["call_id"]): {"output": i["_output"]} for i in items if "_output" in i}
    called = {_call_id(item) for item in items if item["type"] == "function_call"}
    messages: list[ChatMessage] = []
    answers: list[ChatMessage] = []  # outputs of the tool-call turn being built

    def close_turn() -> None:
        messages.extend(answers)
        answers.clear()

    for item in items:
        kind = item["type"]
        if kind == "function_call":
            call_id = _call_id(item)
            if call_id not in outputs:
                continue  # pending: no output yet
            call = ToolCall(call_id, item["name"], item["arguments"])
            prev = messages[-1] if messages else None
            if answers and prev is not None and prev.tool_calls:
                messages[-1] = ChatMessage(
                    "assistant", prev.content, (*prev.tool_calls, call), None
                )
            else:
                close_turn()
                messages.append(ChatMessage("assistant", "", (call,)))
            answers.append(ChatMessage("tool", outputs[call_id]["output"], tool_call_id=call_id))
            continue
        close_turn()
        if kind == "function_call_output":
            if item["call_id"] not in called:  # its call is gone: an orphan answer
                messages.append(ChatMessage("tool", item["output"], tool_call_id=item["call_id"]))
        elif kind == "message":
            text = message_text(item)
            images = tuple(
                ImageInput(str(part["image_url"]), str(part.get("detail") or "auto"))
                for part in item.get("content", [])
                if part.get("type") == "input_image" and part.get("image_url")
            )
            if text or images:
                messages.append(ChatMessage(item["role"], text, images=images))
    close_turn()
    return messages


def message_text(item: Item) -> str:
    parts: list[str] = []
    for part in item.get("content", []):
        value = part.get("text")
        if value is None:
            value = part.get("transcript")
        if value:
            parts.append(str(value))
    return " ".join(parts).strip()
