"""WebRTC calls: opening them (admission), the in-process registry, their DB records."""
