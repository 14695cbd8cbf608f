"""GBNF grammars that make a small model's output a valid tool call (or plain text).

A 135M model cannot be trusted to write valid JSON, so when tools are offered the sampler
is constrained: the reply is either `{"name": <one of the tools>, "arguments": <that
tool's schema>}` or text that does not start with `{`. The first character therefore tells
the caller which one it is getting. `required` or a named function drops the text branch.
Strings and arrays get length bounds so a looping model still finishes.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from realtime2.engine.interfaces import ToolSpec

MAX_STRING = 200
MAX_ITEMS = 8


def bounded_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with string/array bounds and closed objects, recursively."""
    result = copy.deepcopy(schema) if schema else {"type": "object"}
    _bound(result)
    return result


def _bound(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _bound(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and "enum" not in node and "const" not in node:
        node.setdefault("maxLength", MAX_STRING)
    if kind == "array":
        node.setdefault("maxItems", MAX_ITEMS)
    if kind == "object":
        node.setdefault("additionalProperties", False)
        node.setdefault("properties", {})
    for value in node.values():
        _bound(value)


def call_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool.name},
                "arguments": bounded_schema(tool.parameters),
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


# A reply that is text only, never a tool call's JSON: with tools offered but
# `tool_choice: "none"` (say, the answer after a tool's result) a small model that has
# seen calls in the conversation would otherwise write one as text, to be spoken.
PLAIN_TEXT = "root ::= [^{ \\t\\r\\n] [^\\x00]*\n"


def tool_grammar(tools: list[ToolSpec], *, allow_text: bool) -> str:
    """GBNF text for a tool call over `tools`, or (if `allow_text`) a plain reply."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf: str = json_schema_to_gbnf(
        json.dumps(call_schema(tools)), prop_order=["name", "arguments"]
    )
    if not allow_text:
        return gbnf
    # The converter names its entry rule `root`; make it one branch of a new root.
    gbnf = re.sub(r"^root ::=", "tool-call ::=", gbnf, flags=re.MULTILINE)
    return gbnf + "\nroot ::= tool-call | plain-text\nplain-text ::= [^{ \\t\\r\\n] [^\\x00]*\n"


def select_tools(
    tools: list[ToolSpec], tool_choice: str
) -> tuple[list[ToolSpec], bool, str | None]:
    """(tools the grammar allows, whether text is allowed, forced function name)."""
    if not tools or tool_choice == "none":
        return [], True, None
    if tool_choice == "auto":
        return tools, True, None
    if tool_choice == "required":
        return tools, False, None
    named = [tool for tool in tools if tool.name == tool_choice]
    if not named:
        raise ValueError(
            f"tool_choice names {tool_choice!r}, which is not among the tools: "
            f"{', '.join(t.name for t in tools)}"
        )
    return named, False, tool_choice
