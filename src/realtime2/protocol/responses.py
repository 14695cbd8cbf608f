"""One response's output and the event sequence that describes it.

A response opens at most one output item at a time: an assistant message (one audio or
text content part) or a function call. Opening the next item closes the current one, and
`finish` closes whatever is open and reports `response.done`, so every `…added` event has
its `…done` even when the response is cancelled half-way.

A call of an MCP tool (`mcp_routes`, from `protocol.mcp`) is an `mcp_call` item instead,
or an `mcp_approval_request` when the tool needs the user's approval. An `mcp_call` stays
open past its arguments: `run_calls` hands the calls to the runner when the LLM pass ends,
`call_done` closes each with its output or error, and the response goes on (another LLM
pass, which reads the results) instead of finishing.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from realtime2.audio.resample import StreamResampler
from realtime2.engine.interfaces import TokenUsage
from realtime2.protocol.commands import CallMcpTool, McpServerRef
from realtime2.protocol.conversation import Conversation, Item, SpokenTimeline
from realtime2.protocol.mcp import Route
from realtime2.protocol.server_events import ServerEvent, event, new_id
from realtime2.protocol.session_config import FormatType

Status = Literal["completed", "cancelled", "incomplete", "failed"]
Reason = Literal["turn_detected", "client_cancelled", "max_output_tokens"]


class ResponseState:
    def __init__(
        self,
        *,
        conversation: Conversation,
        conversation_id: str,
        in_conversation: bool,
        modality: Literal["audio", "text"],
        output_format: FormatType,
        voice: str,
        metadata: dict[str, str] | None,
        max_output_tokens: int | Literal["inf"],
    ) -> None:
        self.id = new_id("resp")
        self._conversation = conversation
        self.conversation_id = conversation_id
        self.in_conversation = in_conversation
        self.modality = modality
        self.output_format: FormatType = output_format
        self.voice = voice
        self.metadata = metadata
        self.max_output_tokens = max_output_tokens
        # The limit is the client's own number: reaching it makes the response incomplete.
        self.client_limit = False
        self.status: Literal["in_progress"] | Status = "in_progress"
        self.output: list[Item] = []
        self._open: Item | None = None
        self._text = ""  # text or transcript of the open message
        self.timeline = SpokenTimeline()
        self.resampler: StreamResampler | None = None
        self.audio_ms = 0.0
        self.first_audio_at: float | None = None
        self.turn_ended_at: float | None = None  # speech_stopped time when VAD created it
        self.waiting_for: set[str] = set()  # transcripts needed before the LLM can start
        self.context_ids: list[str] = []
        self.draft_id: str | None = None  # a speculative draft this response may adopt
        # MCP (protocol.mcp): tool name → server; calls made, waiting to run, running.
        self.mcp_routes: dict[str, Route] = {}
        self._open_call: str | None = None  # the LLM's call id of the open MCP item
        self.mcp_waiting: list[tuple[Item, McpServerRef]] = []
        self.mcp_running: dict[str, Item] = {}
        self.mcp_calls = 0
        self.mcp_limit = 0  # set by the request builder; past it no more tools are offered
        self.usage = TokenUsage()  # summed over the LLM passes

    @property
    def active(self) -> bool:
        return self.status == "in_progress"

    def _ids(self, item: Item) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item["id"], "output_index": len(self.output) - 1}

    def _snapshot(
        self, status: str | None = None, output: list[Item] | None = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "realtime.response",
            "status": status or self.status,
            "status_details": None,
            "output": copy.deepcopy(output if output is not None else self.output),
            "conversation_id": self.conversation_id if self.in_conversation else None,
            "output_modalities": [self.modality],
            "max_output_tokens": self.max_output_tokens,
            "audio": {"output": {"format": _format_obj(self.output_format), "voice": self.voice}},
            "usage": None,
            "metadata": self.metadata,
        }

    def created(self) -> ServerEvent:
        return event("response.created", response=self._snapshot("in_progress", []))

    # --- opening items ---------------------------------------------------------------

    def _add_item(self, item: Item) -> list[ServerEvent]:
        events = self._close_open("completed")
        self.output.append(item)
        self._open = item
        events.append(
            event(
                "response.output_item.added",
                response_id=self.id,
                output_index=len(self.output) - 1,
                item=copy.deepcopy(item),
            )
        )
        if self.in_conversation:
            previous = self._conversation.add(item)
            events.append(
                event(
                    "conversation.item.added", previous_item_id=previous, item=copy.deepcopy(item)
                )
            )
        return events

    def _ensure_message(self) -> list[ServerEvent]:
        if self._open is not None and self._open["type"] == "message":
            return []
        item: Item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        events = self._add_item(item)
        self._text = ""
        if self.modality == "audio":
            item["content"].append({"type": "output_audio", "transcript": ""})
            part = {"type": "audio", "transcript": ""}
        else:
            item["content"].append({"type": "output_text", "text": ""})
            part = {"type": "text", "text": ""}
        events.append(
            event("response.content_part.added", **self._ids(item), content_index=0, part=part)
        )
        if self.in_conversation:
            self._conversation.timelines[item["id"]] = self.timeline
        return events

    # --- streaming content -----------------------------------------------------------

    def text_delta(self, text: str) -> list[ServerEvent]:
        events = self._ensure_message()
        assert self._open is not None
        self._text += text
        self._open["content"][0]["text"] = self._text
        events.append(
            event(
                "response.output_text.delta", **self._ids(self._open), content_index=0, delta=text
            )
        )
        return events

    def sentence(self, text: str) -> list[ServerEvent]:
        """The runner starts speaking `text`; its audio follows via `audio_delta`."""
        events = self._ensure_message()
        assert self._open is not None
        if self._text and not self._text[-1].isspace() and not text[:1].isspace():
            text = " " + text  # sentence chunks arrive stripped
        self.timeline.segments.append((self.audio_ms, text))
        self._text += text
        self._open["content"][0]["transcript"] = self._text
        events.append(
            event(
                "response.output_audio_transcript.delta",
                **self._ids(self._open),
                content_index=0,
                delta=text,
            )
        )
        return events

    def audio_delta(self, b64: str, duration_ms: float) -> list[ServerEvent]:
        events = self._ensure_message()
        assert self._open is not None
        self.audio_ms += duration_ms
        self.timeline.duration_ms = self.audio_ms
        if b64:
            events.append(
                event(
                    "response.output_audio.delta",
                    **self._ids(self._open),
                    content_index=0,
                    delta=b64,
                )
            )
        return events

    def tool_call_delta(self, call_id: str, name: str, delta: str) -> list[ServerEvent]:
        item = self._open
        if item is not None and item["type"].startswith("mcp_") and self._open_call == call_id:
            return self._mcp_delta(item, delta)
        if (item is None or item.get("call_id") != call_id) and name in self.mcp_routes:
            return self._open_mcp(call_id, name, delta)
        events: list[ServerEvent] = []
        if item is None or item["type"] != "function_call" or item["call_id"] != call_id:
            item = {
                "id": new_id("item"),
                "object": "realtime.item",
                "type": "function_call",
                "status": "in_progress",
                "name": name,
                "call_id": call_id,
                "arguments": "",
            }
            events = self._add_item(item)
        item["arguments"] += delta
        if delta:
            events.append(
                event(
                    "response.function_call_arguments.delta",
                    **self._ids(item),
                    call_id=call_id,
                    delta=delta,
                )
            )
        return events

    def _open_mcp(self, call_id: str, name: str, delta: str) -> list[ServerEvent]:
        route = self.mcp_routes[name]
        item: Item = {
            "id": new_id("item"),
            "type": "mcp_approval_request" if route.approval else "mcp_call",
            "server_label": route.server.label,
            "name": name,
            "arguments": "",
        }
        events = self._add_item(item)
        self._open_call = call_id
        if not route.approval:
            self.mcp_waiting.append((item, route.server))
        return events + self._mcp_delta(item, delta)

    def _mcp_delta(self, item: Item, delta: str) -> list[ServerEvent]:
        item["arguments"] += delta
        if not delta or item["type"] != "mcp_call":
            return []
        return [event("response.mcp_call_arguments.delta", **self._ids(item), delta=delta)]

    def approved_call(self, request: Item, server: McpServerRef) -> list[ServerEvent]:
        """An approved `mcp_approval_request` of an earlier response: run it in this one."""
        item: Item = {
            "id": new_id("item"),
            "type": "mcp_call",
            "server_label": request["server_label"],
            "name": request["name"],
            "arguments": request["arguments"],
            "approval_request_id": request["id"],
        }
        events = self._add_item(item)
        events += self._close_open("completed")
        self.mcp_waiting.append((item, server))
        return events

    def run_calls(self) -> tuple[list[ServerEvent], list[CallMcpTool]]:
        """Start the calls made in this pass (past the limit, they fail unrun)."""
        events = self._close_open("completed")
        calls: list[CallMcpTool] = []
        for item, server in self.mcp_waiting:
            index = self.output.index(item)
            events.append(
                event(
                    "response.mcp_call.in_progress",
                    item_id=item["id"],
                    output_index=index,
                )
            )
            self.mcp_calls += 1
            self.mcp_running[item["id"]] = item
            if self.mcp_calls > self.mcp_limit:
                error = {
                    "type": "tool_execution_error",
                    "message": f"This response reached its limit of {self.mcp_limit} MCP calls.",
                }
                events += self.call_done(item["id"], None, error)
                continue
            calls.append(CallMcpTool(self.id, item["id"], server, item["name"], item["arguments"]))
        self.mcp_waiting = []
        return events, calls

    def call_done(
        self, item_id: str, output: str | None, error: dict[str, Any] | None
    ) -> list[ServerEvent]:
        item = self.mcp_running.pop(item_id, None)
        if item is None:
            return []
        index = self.output.index(item)
        if error is not None:
            item["error"] = error
            done = "response.mcp_call.failed"
        else:
            item["output"] = output or ""
            done = "response.mcp_call.completed"
        events = [event(done, item_id=item_id, output_index=index)]
        return events + self._item_done(item, index)

    def _item_done(self, item: Item, index: int) -> list[ServerEvent]:
        events = [
            event(
                "response.output_item.done",
                response_id=self.id,
                output_index=index,
                item=copy.deepcopy(item),
            )
        ]
        if self.in_conversation and item["id"] in self._conversation:
            events.append(event("conversation.item.done", item=copy.deepcopy(item)))
        return events

    # --- closing ---------------------------------------------------------------------

    def _close_open(self, status: Status) -> list[ServerEvent]:
        item = self._open
        if item is None:
            return []
        self._open = None
        index = self.output.index(item)
        ids = {"response_id": self.id, "item_id": item["id"], "output_index": index}
        events: list[ServerEvent] = []
        if item["type"] == "mcp_call":  # stays open until its call is done (`call_done`)
            arguments = item["arguments"]
            return [event("response.mcp_call_arguments.done", **ids, arguments=arguments)]
        if item["type"] == "mcp_approval_request":
            return self._item_done(item, index)
        item["status"] = "completed" if status == "completed" else "incomplete"
        if item["type"] == "message":
            if self.modality == "audio":
                events.append(event("response.output_audio.done", **ids, content_index=0))
                events.append(
                    event(
                        "response.output_audio_transcript.done",
                        **ids,
                        content_index=0,
                        transcript=self._text,
                    )
                )
                part = {"type": "audio", "transcript": self._text}
            else:
                events.append(
                    event("response.output_text.done", **ids, content_index=0, text=self._text)
                )
                part = {"type": "text", "text": self._text}
            events.append(event("response.content_part.done", **ids, content_index=0, part=part))
        else:
            events.append(
                event(
                    "response.function_call_arguments.done",
                    **ids,
                    call_id=item["call_id"],
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
        events.append(
            event(
                "response.output_item.done",
                response_id=self.id,
                output_index=index,
                item=copy.deepcopy(item),
            )
        )
        if self.in_conversation and item["id"] in self._conversation:
            events.append(event("conversation.item.done", item=copy.deepcopy(item)))
        return events

    def finish(
        self,
        status: Status,
        *,
        reason: Reason | None = None,
        usage: TokenUsage | None = None,
        error: dict[str, str] | None = None,
    ) -> list[ServerEvent]:
        events = self._close_open(status)
        for item, _ in self.mcp_waiting:  # never run: done as they are
            events += self._item_done(item, self.output.index(item))
        for item in list(self.mcp_running.values()):
            error = {"type": "tool_execution_error", "message": f"The response was {status}."}
            events += self.call_done(item["id"], None, error)
        self.mcp_waiting = []
        self.status = status
        snapshot = self._snapshot()
        if status != "completed":
            details: dict[str, Any] = {"type": status}
            if reason is not None:
                details["reason"] = reason
            if error is not None:
                details["error"] = error
            snapshot["status_details"] = details
        snapshot["usage"] = usage_object(usage or TokenUsage())
        events.append(event("response.done", response=snapshot))
        return events


def usage_object(usage: TokenUsage) -> dict[str, Any]:
    # The embedded pipeline hears audio through STT, so all tokens the LLM sees are text.
    return {
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "input_token_details": {
            "text_tokens": usage.input_tokens,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": usage.cached_tokens,
            "cached_tokens_details": {
                "text_tokens": usage.cached_tokens,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": usage.output_tokens, "audio_tokens": 0},
    }


def _format_obj(fmt: FormatType) -> dict[str, Any]:
    return {"type": "audio/pcm", "rate": 24000} if fmt == "audio/pcm" else {"type": fmt}
