"""Truncating an assistant message to the audio the listener actually heard."""

from __future__ import annotations

from typing import TYPE_CHECKING

from realtime2.protocol import client_events as ce
from realtime2.protocol.server_events import ProtocolError, event

if TYPE_CHECKING:
    from realtime2.protocol.session import RealtimeSession


def truncate(session: RealtimeSession, ev: ce.ConversationItemTruncate) -> None:
    """`conversation.item.truncate`: cut an assistant item's audio, and its transcript in
    proportion, to what the listener heard; a response still producing it is cancelled."""
    item = session.conversation.get(ev.item_id)
    if item["type"] != "message" or item["role"] != "assistant":
        raise ProtocolError("invalid_value", "Only assistant messages can be truncated.", "item_id")
    if ev.content_index >= len(item["content"]) or (
        item["content"][ev.content_index]["type"] != "output_audio"
    ):
        raise ProtocolError(
            "invalid_value", "The content part has no audio to truncate.", "content_index"
        )
    timeline = session.conversation.timelines.get(ev.item_id)
    duration = timeline.duration_ms if timeline is not None else 0.0
    if ev.audio_end_ms > duration + 1:
        raise ProtocolError(
            "invalid_value",
            f"audio_end_ms ({ev.audio_end_ms}) is longer than the audio ({int(duration)} ms).",
            param="audio_end_ms",
        )
    for response in list(session.responses.values()):
        if response.active and any(o["id"] == ev.item_id for o in response.output):
            session.cancel_response(response, "client_cancelled")
    if timeline is not None:
        item["content"][ev.content_index]["transcript"] = timeline.text_until(ev.audio_end_ms)
        timeline.duration_ms = float(ev.audio_end_ms)
        timeline.segments = [s for s in timeline.segments if s[0] < ev.audio_end_ms]
    session.emit(
        event(
            "conversation.item.truncated",
            item_id=ev.item_id,
            content_index=ev.content_index,
            audio_end_ms=ev.audio_end_ms,
        )
    )
