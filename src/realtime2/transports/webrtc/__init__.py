"""WebRTC transport: an aiortc peer connection driving a `SessionRunner` (media on the RTP
audio track, JSON events on the `oai-events` data channel); `open` admits and starts one
call (the checks of `calls.open` first), `sideband` attaches a server's WebSocket to it."""
