"""The audio of a client-created conversation item, decoded to the session's input rate.

`conversation.item.create` may carry `input_audio` content as base64 in the session's input
format. Its size is checked on the base64 text, before anything is decoded, so an oversized
item costs the sender a refusal rather than the server a decode.
"""

from __future__ import annotations

from realtime2.audio.resample import resample
from realtime2.audio.types import FloatAudio
from realtime2.protocol import audio_formats
from realtime2.protocol.limits import MAX_ITEM_AUDIO_BYTES, decode_base64
from realtime2.protocol.server_events import ProtocolError
from realtime2.protocol.session_config import FormatType


def decode_item_audio(b64: str, input_format: FormatType, rate: int) -> FloatAudio:
    """`b64` in `input_format` as mono float32 at `rate`; a `ProtocolError` naming
    `item.content` when it is too large or not base64."""
    data = decode_base64(
        b64,
        MAX_ITEM_AUDIO_BYTES,
        too_large=ProtocolError(
            "item_too_large",
            "The audio of a conversation item may be at most 15 MB.",
            param="item.content",
        ),
        invalid="The item audio is not valid base64.",
        param="item.content",
    )
    samples = audio_formats.decode(data, input_format)
    return resample(samples, audio_formats.format_rate(input_format), rate)
