"""Calls: a session reached over some media transport (a WebRTC peer connection served
here, an upstream's call in gateway mode; SIP later). What every call shares, whatever
carries its media: the `Call` protocol and `CallBase` (`base`), admission before any media
work (`open`), the in-process registry and pending calls, the DB records, and finding a
caller's call (`lookup`). Each transport brings its own opener (`transports.webrtc.open`,
`gateway.call_open`)."""
