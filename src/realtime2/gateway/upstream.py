"""The upstream a gateway relays to: its URLs, its key and which of our models go there.

`REALTIME2_UPSTREAM_MODELS` maps our model names onto the upstream's
(`realtime-pro=gpt-realtime-2,realtime-mini=gpt-realtime-mini`); a model it does not list
stays on the embedded engine. The pipeline roles may be listed too (`stt=…`, `llm=…`,
`tts=…`). The key is held as a `SecretStr` and only ever written into upstream requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

from realtime2.config import Settings

PIPELINE_ROLES = ("stt", "llm", "tts")


class GatewayConfigError(ValueError):
    """The upstream settings are inconsistent (raised at start-up, never per request)."""


def parse_model_map(text: str) -> dict[str, str]:
    """`"a=b, c=d"` → `{"a": "b", "c": "d"}`; a malformed entry is a configuration error."""
    mapping: dict[str, str] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        ours, sep, theirs = entry.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise GatewayConfigError(
                f"REALTIME2_UPSTREAM_MODELS entry {entry!r} is not of the form ours=theirs."
            )
        mapping[ours.strip()] = theirs.strip()
    return mapping


@dataclass(frozen=True)
class Upstream:
    base_url: str  # http(s)://host/…/v1, without a trailing slash
    api_key: SecretStr | None = field(repr=False)
    models: dict[str, str]
    connect_timeout: float = 10.0
    pipeline: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Upstream | None:
        """The configured upstream, or None when gateway mode is off."""
        models = parse_model_map(settings.upstream_models)
        if not settings.upstream_url:
            if models or settings.upstream_pipeline:
                raise GatewayConfigError(
                    "REALTIME2_UPSTREAM_MODELS/REALTIME2_UPSTREAM_PIPELINE need "
                    "REALTIME2_UPSTREAM_URL."
                )
            return None
        parts = urlsplit(settings.upstream_url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise GatewayConfigError("REALTIME2_UPSTREAM_URL must be an http(s) API base URL.")
        return cls(
            base_url=settings.upstream_url.rstrip("/"),
            api_key=settings.upstream_api_key,
            models=models,
            connect_timeout=settings.upstream_connect_timeout_s,
            pipeline=settings.upstream_pipeline,
        )

    def their_model(self, ours: str) -> str | None:
        """The upstream's name for one of our models, or None when it is served locally."""
        return self.models.get(ours)

    def http_url(self, path: str) -> str:
        """`{base}/{path}` as http(s), for REST calls such as `realtime/calls`."""
        base = self.base_url
        if base.startswith("ws"):
            base = "http" + base[2:]
        return f"{base}/{path.lstrip('/')}"

    def ws_url(self, path: str = "realtime", **query: str) -> str:
        """`{base}/{path}?…` as ws(s): `realtime` or `realtime/translations`."""
        parts = urlsplit(self.http_url(path))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))

    def auth_headers(self) -> dict[str, str]:
        if self.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}

    def redact(self, text: str) -> str:
        """Upstream text made safe to show a client or log: no key, nor what looks like one."""
        if self.api_key is not None and self.api_key.get_secret_value():
            text = text.replace(self.api_key.get_secret_value(), "[redacted]")
        return _KEYLIKE.sub("[redacted]", text)


# API keys and ephemeral secrets as OpenAI and realtime2 print them (masked or not).
_KEYLIKE = re.compile(r"\b(?:sk|ek|rk|sess)[-_][A-Za-z0-9*_\-]{6,}")
