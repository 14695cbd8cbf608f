"""The audio of a client-created conversation item, decoded to the session's input rate.

`conversation.item.create` may carry `input_audio` content as base64 in the session's input
format. Its size is checked on the base64 text, before anything is decoded, so an oversized
item costs the sender a refusal rather than the server a decode.
"""

from __future__ import annotations

import base64
import binascii

from realtime2.audio.resample import resample
from realtime2.audio.types import FloatAudio
from realtime2.protocol import audio_formats
from realtime2.protocol.limits import MAX_ITEM_AUDIO_BYTES
from realtime2.protocol.server_events import ProtocolError
from realtime2.protocol.session_config import FormatType

# Base64 of the largest accepted audio: 4 characters per 3 bytes, with padding to spare.
_MAX_BASE64_CHARS = (MAX_ITEM_AUDIO_BYTES + 3) * 4 // 3 + 8


def decode_item_audio(b64: str, input_format: FormatType, rate: int) -> FloatAudio:
    """`b64` in `input_format` as mono float32 at `rate`; a `ProtocolError` naming
    `item.content` when it is too large or not base64."""
    if len(b64) > _MAX_BASE64_CHARS:
        raise ProtocolError(
            "item_too_large",
            "The audio of a conversation item may be at most 15 MB.",
            param="item.content",
        )
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(
            "invalid_base64", "The item audio is not valid base64.", param="item.content"
        ) from exc
    samples = audio_formats.decode(data, input_format)
    return resample(samples, audio_formats.format_rate(input_format), rate)
