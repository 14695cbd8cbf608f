"""Telephony over SIP: messages, SDP, RTP (issue 19)."""
