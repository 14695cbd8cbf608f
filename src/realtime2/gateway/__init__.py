"""Gateway mode: the same API in front of OpenAI or any Realtime-compatible upstream.

`upstream` reads the configuration, `connect` opens upstream sockets, `relay` pipes a
client's session to the upstream and back under realtime2's own metering, `usage` sums
the upstream's token usage, `pipeline` points the Starter Voice roles at the upstream and
`calls` runs WebRTC calls on the upstream with a metering sideband.
"""
