"""WebRTC transport: an aiortc peer connection driving a `SessionRunner` (media on the RTP
audio track, JSON events on the `oai-events` data channel)."""
