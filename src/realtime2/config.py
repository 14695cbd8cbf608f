"""Service settings, read from `REALTIME2_*` environment variables.

Engine settings (which STT/LLM/TTS/VAD backend and model files) live beside the engine in
`realtime2.engine.config`, so this module holds only what the service core needs.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.accounts.pricing import DEFAULT_RATES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REALTIME2_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    # Empty means a SQLite file in data_dir. `sqlite:///path` and `postgresql://…` are
    # accepted and rewritten to their async drivers (see realtime2.db.urls).
    database_url: str = ""
    # Secret for the keyed hash of API keys and for signing dashboard cookies.
    # Generated on first start and kept in data_dir/secret_key when not given.
    secret_key: str = ""
    # Dashboard cookies carry the Secure flag unless serving plain http on loopback.
    cookie_secure: bool | None = None
    demo_email: str = "demo@realtime2.local"
    demo_credits: int = 10_000
    # Units per second for each model; overrides merge into the defaults,
    # e.g. REALTIME2_RATES='{"realtime-pro": 20}'.
    rates: dict[str, int] = Field(default_factory=dict)
    log_level: str = "info"
    # "text" (key=value) or "json" (one object per line); both carry request/session ids.
    log_format: str = "text"
    # Load the voice engines at start-up (tests of the accounts layer turn this off).
    load_engines: bool = True
    # Concurrent realtime sessions: per process, and per user unless a user has their own.
    max_sessions: int = 1000
    max_sessions_per_user: int = 50
    # HTTP requests per minute per API key unless a user has their own (`limits set`);
    # 0 turns the default off. Enforced per process (see realtime2.http.ratelimit).
    rate_limit_rpm: int = 600
    # Serve https/wss when both are set (PEM files; `serve --ssl-certfile/--ssl-keyfile`).
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # WebRTC: the addresses offered as ICE host candidates (comma-separated; each must be an
    # address of this machine), and an optional STUN server ("stun:host:port"). Nothing is
    # contacted unless configured.
    webrtc_hosts: str = "127.0.0.1"
    webrtc_stun: str = ""
    # Gateway mode (docs/gateway.md): models listed in upstream_models ("ours=theirs,…")
    # are relayed to a Realtime-compatible upstream at upstream_url (an API base such as
    # https://api.openai.com/v1) with upstream_api_key, which never leaves this server.
    # upstream_pipeline makes the Starter Voice pipeline's STT/LLM/TTS use it too.
    upstream_url: str = ""
    upstream_api_key: SecretStr | None = None
    upstream_models: str = ""
    upstream_pipeline: bool = False
    upstream_connect_timeout_s: float = Field(default=10.0, gt=0)

    def webrtc_host_list(self) -> list[str]:
        return [h.strip() for h in self.webrtc_hosts.split(",") if h.strip()]

    def resolved_rates(self) -> dict[str, int]:
        return {**DEFAULT_RATES, **self.rates}

    def sqlite_default_url(self) -> str:
        return f"sqlite:///{(self.data_dir / 'realtime2.db').resolve()}"

    def effective_database_url(self) -> str:
        return self.database_url or self.sqlite_default_url()

    def effective_secret_key(self) -> str:
        """The configured secret, or the one kept in data_dir (created on first use)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
