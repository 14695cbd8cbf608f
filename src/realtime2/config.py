"""Service settings, read from `REALTIME2_*` environment variables.

Engine settings (which STT/LLM/TTS/VAD backend and model files) live beside the engine in
`realtime2.engine.config`, so this module holds only what the service core needs.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dotenv import load_dotenv
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from realtime2.accounts.pricing import DEFAULT_RATES

if TYPE_CHECKING:
    from realtime2.protocol.limits import ConversationLimits


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
    # HTTP requests and WebSocket handshakes per minute per user (all their keys together)
    # unless a user has their own (`limits set`); 0 turns the default off. Enforced per
    # process (see realtime2.edge.ratelimit).
    rate_limit_rpm: int = 600
    # Shared state for several replicas (docs/operations.md): e.g. redis://127.0.0.1:6379/0.
    # Set, the rate limits and the login throttle are counted in Redis across every replica
    # pointed at it; empty, each process counts in its own memory.
    redis_url: str = ""
    # Proxies (load balancers) whose X-Forwarded-For / X-Forwarded-Proto are believed:
    # comma-separated addresses or networks ("10.0.0.0/8,127.0.0.1"), "*" for any. From a
    # trusted proxy the client address (login throttle, logs) is the last address in
    # X-Forwarded-For that is not itself a trusted proxy; from anyone else the header is
    # ignored. Empty: uvicorn's default (FORWARDED_ALLOW_IPS, else 127.0.0.1).
    trusted_proxies: str = ""
    # On SIGTERM (realtime2.edge.drain): refuse new sessions, end live ones with an
    # `error` event `server_shutting_down`, and wait up to this long for them to settle.
    drain_timeout_s: float = Field(default=20.0, ge=0)
    # Page origins, besides this server's own, whose WebSockets the login cookie may
    # authenticate (comma-separated, e.g. "https://app.example.com"; realtime2.edge.origins).
    allowed_origins: str = ""
    # Self-service sign-up (POST /api/signup, docs/admin.md): off | open | invite | approval.
    signup: Literal["off", "open", "invite", "approval"] = "off"
    # Sign-ups accepted per client address per hour (0: no limit), counted per process.
    signup_per_hour: int = Field(default=5, ge=0)
    # Where every `balance.low` / `key.budget_exhausted` notification also goes (the
    # operator), signed with the secret (Standard Webhooks); empty: nowhere.
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""
    # How often the notification watcher looks for crossings (seconds).
    notify_every_s: float = Field(default=15.0, gt=0)
    # Failed dashboard logins (realtime2.http.dashboard_ratelimit): per (email, address),
    # this many are free, then each one doubles a wait from 1 s up to the maximum; per
    # address (any email) the same after more failures.
    login_failures_before_backoff: int = Field(default=5, ge=1)
    login_address_failures_before_backoff: int = Field(default=20, ge=1)
    login_backoff_max_s: float = Field(default=900.0, gt=0)
    # The served connection (realtime2.serving): complete request headers must arrive within
    # handshake_timeout_s of connecting (or of the previous response) and fit in
    # max_header_bytes; idle keep-alive connections close after keep_alive_timeout_s; past
    # max_connections open connections new requests get 503; WebSockets are pinged every
    # ws_ping_interval_s and closed when a pong takes longer than ws_ping_timeout_s.
    handshake_timeout_s: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    max_connections: int = Field(default=2048, ge=1)
    ws_ping_interval_s: float = Field(default=20.0, gt=0)
    ws_ping_timeout_s: float = Field(default=20.0, gt=0)
    # Serve https/wss when both are set (PEM files; `serve --ssl-certfile/--ssl-keyfile`).
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    # WebRTC: the addresses offered as ICE host candidates (comma-separated; each must be an
    # address of this machine), and an optional STUN server ("stun:host:port"). Nothing is
    # contacted unless configured.
    webrtc_hosts: str = "127.0.0.1"
    webrtc_stun: str = ""
    # Remote ICE candidates on private, loopback or link-local addresses (and mDNS names):
    # unset allows them only when every webrtc_host is itself non-public (a dev machine or a
    # private network), since a public server learns its peers from their own checks.
    webrtc_allow_private_candidates: bool | None = None
    # Calls a user has opened that have not connected yet (each holds a session slot).
    max_pending_calls_per_user: int = Field(default=10, ge=1)
    # What one realtime conversation may hold (realtime2.protocol.limits): text bytes per
    # item, items, and text bytes in all.
    max_item_bytes: int = Field(default=256 * 1024, ge=1024)
    max_conversation_items: int = Field(default=1000, ge=1)
    max_conversation_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Uploaded audio (realtime2.audio.decode): seconds after resampling, the highest source
    # sample rate and channel count decoded, and decodes running at once (worker threads).
    audio_max_seconds: float = Field(default=600.0, gt=0)
    audio_max_sample_rate: int = Field(default=192_000, ge=8000)
    audio_max_channels: int = Field(default=8, ge=1)
    audio_decodes_at_once: int = Field(default=2, ge=1)
    # Gateway mode (docs/gateway.md): models listed in upstream_models ("ours=theirs,…")
    # are relayed to a Realtime-compatible upstream at upstream_url (an API base such as
    # https://api.openai.com/v1) with upstream_api_key, which never leaves this server.
    # upstream_pipeline makes the Starter Voice pipeline's STT/LLM/TTS use it too.
    upstream_url: str = ""
    upstream_api_key: SecretStr | None = None
    upstream_models: str = ""
    upstream_pipeline: bool = False
    upstream_connect_timeout_s: float = Field(default=10.0, gt=0)
    # Request body limits in bytes by route template, merged into the defaults in
    # realtime2.http.body_limit ("*" is every other route), e.g.
    # REALTIME2_BODY_LIMITS='{"/v1/chat/completions": 4194304}'. docs/security.md lists them.
    body_limits: dict[str, int] = Field(default_factory=dict)
    # Dashboard password checks running at once (argon2id: 64 MiB and most of a second of
    # CPU each, in worker threads); more wait their turn without blocking the event loop.
    password_checks_at_once: int = Field(default=2, ge=1)
    # /docs, /redoc and /openapi.json; /metrics. Unset: served when bound to loopback only.
    # With metrics_token set, /metrics is served on any address to `Bearer <token>` only.
    expose_docs: bool | None = None
    expose_metrics: bool | None = None
    metrics_token: SecretStr | None = None

    def binds_loopback(self) -> bool:
        """Whether the server listens on a loopback address only (not 0.0.0.0 or a LAN IP)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def webrtc_host_list(self) -> list[str]:
        return [h.strip() for h in self.webrtc_hosts.split(",") if h.strip()]

    def conversation_limits(self) -> ConversationLimits:
        # Imported here: the protocol package loads numpy and the session machinery.
        from realtime2.protocol.limits import ConversationLimits

        return ConversationLimits(
            self.max_item_bytes, self.max_conversation_items, self.max_conversation_bytes
        )

    def allowed_origin_set(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/").lower() for o in self.allowed_origins.split(",") if o.strip()
        )

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


ENV_FILE_VARIABLE = "REALTIME2_ENV_FILE"


def load_env_file(path: Path | None = None) -> Path | None:
    """Read `KEY=value` lines of a `.env` file into the process environment, for every
    settings class at once (service, engine, SIP, MCP, backends all read `REALTIME2_*`).

    The file is `path`, else `$REALTIME2_ENV_FILE`, else `./.env` when it exists. Variables
    already in the environment win over the file, as with docker compose. A named file that
    does not exist is an error; a missing default `.env` is not. Returns the file read.
    """
    from_environment = os.environ.get(ENV_FILE_VARIABLE)
    named = path or (Path(from_environment) if from_environment else None)
    chosen = named or Path(".env")
    if not chosen.is_file():
        if named is not None:
            raise FileNotFoundError(f"env file not found: {named}")
        return None
    load_dotenv(chosen, override=False)
    get_settings.cache_clear()
    return chosen
