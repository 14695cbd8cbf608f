"""Calls: a session reached over some media transport (a WebRTC peer connection served
here, a phone call over SIP, an upstream's call in gateway mode). What every call shares,
whatever carries its media: the `Call` protocol and `CallBase` (`base`), admission before
any media work (`open`), the in-process registry and pending calls, the DB records, finding
a caller's call (`lookup`), and control from any replica: the call bus over Redis pub/sub
(`bus`) that runs commands on the replica owning a call, and the relay of a sideband socket
to it (`relay`). Each transport brings its own opener (`transports.webrtc.open`,
`transports.sip.open`, `gateway.call_open`)."""
