"""Opening a WebSocket to the upstream, with every failure turned into one clear error.

Unreachable, too slow to complete the handshake, or answering with an HTTP error: the
caller gets `ApiError(502/504, "upstream_unavailable")` whose message carries the
upstream's own message when it sent one, with anything key-like redacted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from realtime2.errors import ApiError
from realtime2.gateway.upstream import Upstream

log = logging.getLogger(__name__)

# An input_audio_buffer.append may carry 15 MB of base64 audio.
MAX_FRAME_BYTES = 20 * 1024 * 1024
# Client headers worth passing on (protocol flavour only; never credentials or cookies).
FORWARDED_HEADERS = ("openai-beta",)


def upstream_unavailable(message: str, status: int = 502) -> ApiError:
    return ApiError(status, "upstream_unavailable", message)


async def open_socket(
    upstream: Upstream,
    query: Mapping[str, str],
    client_headers: Mapping[str, str],
    *,
    path: str = "realtime",
) -> ClientConnection:
    """Connect to `{upstream}/{path}?…` as the gateway (the upstream key replaces the
    user's); raise `upstream_unavailable` on any failure."""
    headers = {k: client_headers[k] for k in FORWARDED_HEADERS if k in client_headers}
    headers.update(upstream.auth_headers())
    try:
        return await connect(
            upstream.ws_url(path, **query),
            additional_headers=headers,
            open_timeout=upstream.connect_timeout,
            max_size=MAX_FRAME_BYTES,
            # Audio is base64 (compresses poorly) and deflate costs CPU per frame.
            compression=None,
            user_agent_header="realtime2-gateway",
        )
    except InvalidStatus as exc:
        response = exc.response
        detail = upstream.redact(error_message(bytes(response.body or b"")))
        log.warning("upstream refused the session: HTTP %d", response.status_code)
        raise upstream_unavailable(
            f"The upstream refused the session (HTTP {response.status_code})"
            + (f": {detail}" if detail else ".")
        ) from None
    except TimeoutError:
        log.warning("upstream handshake timed out after %.1fs", upstream.connect_timeout)
        raise upstream_unavailable(
            f"The upstream did not complete the handshake within {upstream.connect_timeout:g}s.",
            504,
        ) from None
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        log.warning("upstream unreachable: %s", type(exc).__name__)
        raise upstream_unavailable(
            f"The upstream could not be reached ({type(exc).__name__})."
        ) from None


def error_message(body: bytes) -> str:
    """The `error.message` of an OpenAI-style JSON error body, else a short text body."""
    text = body[:2000].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:300] if text.isprintable() else ""
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if isinstance(message, str):
            return message[:300]
    return ""
