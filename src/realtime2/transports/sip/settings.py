"""SIP settings (`REALTIME2_SIP_*`), off unless `REALTIME2_SIP_LISTEN` (or `serve --sip`)
names an address."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_SIP_", extra="ignore")

    # HOST:PORT for SIP over UDP and TCP (the same port); empty: no SIP listener.
    listen: str = ""
    # The address put in our SDP and Contact (what the trunk can reach); default: the
    # listen host, or 127.0.0.1 when that is a wildcard.
    public_host: str = ""
    ring_timeout_seconds: float = 60.0
    # An answered call that receives no RTP for this long is hung up.
    rtp_timeout_seconds: float = 30.0
    # Out-of-dialog requests (INVITE, OPTIONS, …) per source address per minute.
    requests_per_minute: int = 60
    max_ringing_per_user: int = 10

    def address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"REALTIME2_SIP_LISTEN must be HOST:PORT, not {self.listen!r}")
        return host.strip("[]"), int(port)

    def advertised_host(self, bound_host: str) -> str:
        if self.public_host:
            return self.public_host
        return "127.0.0.1" if bound_host in ("0.0.0.0", "::", "") else bound_host
