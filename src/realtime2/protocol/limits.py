"""How much one conversation may hold, so memory grows with what a session pays for.

A session is billed per second, not per byte, so without these limits a client could
park any amount of text in the server's memory for the price of a few seconds (60 items
of 5 MB each cost 72 credits and 460 MB). Items the client creates — and items it sends
inline with `response.create` — are checked; items the server creates itself (audio turns,
responses) are counted but never refused, since their size is bounded by the time and
tokens the session pays for.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from realtime2.protocol.server_events import ProtocolError

DEFAULT_MAX_ITEM_BYTES: Final = 256 * 1024
DEFAULT_MAX_ITEMS: Final = 1000
DEFAULT_MAX_CONVERSATION_BYTES: Final = 2 * 1024 * 1024
# Audio in an item is decoded and transcribed, never kept; the same cap as one append.
MAX_ITEM_AUDIO_BYTES: Final = 15 * 1024 * 1024

# The fields of a stored item that carry client-chosen text of unbounded length.
_TEXT_FIELDS: Final = ("name", "arguments", "call_id", "output")
_PART_FIELDS: Final = ("text", "transcript", "image_url")


@dataclass(frozen=True)
class ConversationLimits:
    max_item_bytes: int = DEFAULT_MAX_ITEM_BYTES  # all text of one item, UTF-8
    max_items: int = DEFAULT_MAX_ITEMS
    max_bytes: int = DEFAULT_MAX_CONVERSATION_BYTES  # all text of all items, UTF-8
    # Whether `input_image` parts are taken: only when the LLM declares vision, so a
    # text-only model never answers as if it had seen a picture.
    images: bool = False


def _fields(item: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(param path below the item, text) for every text field of a stored item."""
    for name in _TEXT_FIELDS:
        value = item.get(name)
        if isinstance(value, str):
            yield name, value
    for index, part in enumerate(item.get("content") or ()):
        for name in _PART_FIELDS:
            value = part.get(name)
            if isinstance(value, str):
                yield f"content.{index}.{name}", value


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(text.encode()) for _, text in _fields(item))


def check_item(item: dict[str, Any], limits: ConversationLimits, *, param: str) -> int:
    """The item's size in bytes; `item_too_large` naming the field that crossed the limit.

    An `input_image` part is refused (`unsupported_content`, naming the part) unless the
    limits allow images."""
    if not limits.images:
        for index, part in enumerate(item.get("content") or ()):
            if part.get("type") == "input_image":
                raise ProtocolError(
                    "unsupported_content",
                    "This server's language model cannot see images; input_image content "
                    "is not supported (configure an LLM backend with vision).",
                    param=f"{param}.content.{index}.image_url",
                )
    total = 0
    for path, text in _fields(item):
        total += len(text.encode())
        if total > limits.max_item_bytes:
            raise ProtocolError(
                "item_too_large",
                f"A conversation item may hold at most {limits.max_item_bytes} bytes of text.",
                param=f"{param}.{path}",
            )
    return total


def check_room(items: Iterable[dict[str, Any]], size: int, limits: ConversationLimits) -> None:
    """`conversation_full` unless the conversation has room for one more item of `size`."""
    count = 0
    held = 0
    for stored in items:
        count += 1
        held += item_bytes(stored)  # server items grow in place, so sizes are not cached
    if count >= limits.max_items:
        raise ProtocolError(
            "conversation_full",
            f"The conversation already holds the maximum of {limits.max_items} items; "
            "delete some with conversation.item.delete first.",
            param="item",
        )
    if held + size > limits.max_bytes:
        raise ProtocolError(
            "conversation_full",
            f"The conversation may hold at most {limits.max_bytes} bytes of text; "
            "delete some items with conversation.item.delete first.",
            param="item",
        )


def decode_base64(
    text: str, max_bytes: int, *, too_large: ProtocolError, invalid: str, param: str
) -> bytes:
    """`text` decoded, or `too_large` when it holds more than `max_bytes` (checked on the
    text first, so nothing huge is decoded), or `invalid_base64` naming `param`."""
    if len(text) > (max_bytes + 3) * 4 // 3 + 8:
        raise too_large
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("invalid_base64", invalid, param=param) from exc
    if len(data) > max_bytes:
        raise too_large
    return data
