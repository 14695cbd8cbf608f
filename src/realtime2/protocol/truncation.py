"""Truncating an assistant message to the audio the listener actually heard.

In two steps, so this module needs only the conversation: `plan_truncation` checks the
request (raising before anything changes); the session then cancels any response still
producing the item, and `Truncation.apply` cuts the transcript and returns the event.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime2.protocol import client_events as ce
from realtime2.protocol.conversation import Conversation, Item, SpokenTimeline
from realtime2.protocol.server_events import ProtocolError, ServerEvent, event


@dataclass(frozen=True)
class Truncation:
    """A checked `conversation.item.truncate`, not yet applied."""

    item: Item
    timeline: SpokenTimeline | None
    content_index: int
    audio_end_ms: int

    def apply(self) -> ServerEvent:
        """Cut the item's audio, and its transcript in proportion, to `audio_end_ms`."""
        end = self.audio_end_ms
        timeline = self.timeline
        if timeline is not None:
            self.item["content"][self.content_index]["transcript"] = timeline.text_until(end)
            timeline.duration_ms = float(end)
            timeline.segments = [s for s in timeline.segments if s[0] < end]
        return event(
            "conversation.item.truncated",
            item_id=self.item["id"],
            content_index=self.content_index,
            audio_end_ms=end,
        )


def plan_truncation(conversation: Conversation, ev: ce.ConversationItemTruncate) -> Truncation:
    """Check `conversation.item.truncate` against the conversation; raise `ProtocolError`."""
    item = conversation.get(ev.item_id)
    if item["type"] != "message" or item["role"] != "assistant":
        raise ProtocolError("invalid_value", "Only assistant messages can be truncated.", "item_id")
    if ev.content_index >= len(item["content"]) or (
        item["content"][ev.content_index]["type"] != "output_audio"
    ):
        raise ProtocolError(
            "invalid_value", "The content part has no audio to truncate.", "content_index"
        )
    timeline = conversation.timelines.get(ev.item_id)
    duration = timeline.duration_ms if timeline is not None else 0.0
    if ev.audio_end_ms > duration + 1:
        raise ProtocolError(
            "invalid_value",
            f"audio_end_ms ({ev.audio_end_ms}) is longer than the audio ({int(duration)} ms).",
            param="audio_end_ms",
        )
    return Truncation(item, timeline, ev.content_index, ev.audio_end_ms)
