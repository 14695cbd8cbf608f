"""Render a chat (with tool instructions) to the model's prompt text.

The GGUF's own Jinja chat template is used when it has one (SmolLM2's is ChatML); ChatML is
the fallback. Tool calls and results are rendered as plain JSON text so that any template
can carry them, and the tool list goes into the system message.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2.sandbox

from realtime2.engine.interfaces import ChatMessage, ToolSpec

_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tool_instructions(tools: list[ToolSpec], forced: str | None) -> str:
    lines = ["You can call these functions:"]
    for tool in tools:
        params = json.dumps(tool.parameters, separators=(",", ":"))
        lines.append(f"- {tool.name}: {tool.description} Parameters: {params}")
    call = '{"name": "<function name>", "arguments": {...}}'
    if forced:
        lines.append(f"Call the function {forced} now. Reply with JSON only: {call}")
    else:
        lines.append(f"To call a function, reply with JSON only: {call}. Otherwise answer in text.")
    return "\n".join(lines)


def to_template_messages(
    messages: list[ChatMessage], tools: list[ToolSpec], forced: str | None, use_tools: bool
) -> list[dict[str, str]]:
    """Plain role/content dicts every chat template understands."""
    rendered: list[dict[str, str]] = []
    for message in messages:
        content = message.content
        role: str = message.role
        if message.tool_calls:
            calls = [
                {"name": call.name, "arguments": _loads_or_text(call.arguments)}
                for call in message.tool_calls
            ]
            payload = calls[0] if len(calls) == 1 else calls
            content = (content + "\n" if content else "") + json.dumps(payload)
        if role == "tool":
            # Not every template knows a "tool" role; present the result as user context.
            role, content = "user", f"Function result: {content}"
        rendered.append({"role": role, "content": content})
    if use_tools and tools:
        instructions = tool_instructions(tools, forced)
        if rendered and rendered[0]["role"] == "system":
            rendered[0] = {
                "role": "system",
                "content": rendered[0]["content"] + "\n\n" + instructions,
            }
        else:
            rendered.insert(0, {"role": "system", "content": instructions})
    return rendered


@lru_cache(maxsize=8)
def _compiled(template: str) -> jinja2.Template:
    """A template compiles once per process (~1 ms each time otherwise); rendering is pure."""

    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return environment.from_string(template)


def render_prompt(template: str | None, messages: list[dict[str, str]], bos: str, eos: str) -> str:
    return _compiled(template or _CHATML).render(
        messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
    )


def _loads_or_text(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
