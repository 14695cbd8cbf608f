"""The upstream's WebRTC call REST endpoints: create a call, hang one up.

`POST {upstream}/realtime/calls` takes the client's SDP offer and the session config as
`multipart/form-data` (the form the OpenAI SDK uses) and answers 201 with the SDP answer
and `Location: …/realtime/calls/{call_id}`. Every failure becomes `upstream_unavailable`
(502, or 504 when too slow) with the upstream's message, key-like text redacted.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import httpx

from realtime2.gateway.connect import error_message, upstream_unavailable
from realtime2.gateway.upstream import Upstream

log = logging.getLogger(__name__)

# Creating a call makes the upstream gather ICE candidates: allow it more than a handshake.
CREATE_TIMEOUT_SECONDS: Final = 30.0
HANGUP_TIMEOUT_SECONDS: Final = 15.0
# Upstream call ids go into URLs (path and query): accept only plain ids.
_CALL_ID = re.compile(r"[A-Za-z0-9_\-]{1,128}")


def _timeout(upstream: Upstream, total: float) -> httpx.Timeout:
    return httpx.Timeout(total, connect=upstream.connect_timeout)


async def create_upstream_call(
    upstream: Upstream, offer: str, session: dict[str, Any]
) -> tuple[str, str]:
    """Create the call upstream; return (the upstream's call id, its SDP answer)."""
    files = {
        "sdp": (None, offer.encode(), "application/sdp"),
        "session": (None, json.dumps(session).encode(), "application/json"),
    }
    headers = {"Accept": "application/sdp", **upstream.auth_headers()}
    try:
        async with httpx.AsyncClient(timeout=_timeout(upstream, CREATE_TIMEOUT_SECONDS)) as http:
            response = await http.post(
                upstream.http_url("realtime/calls"), files=files, headers=headers
            )
    except httpx.TimeoutException:
        log.warning("upstream call creation timed out")
        raise upstream_unavailable("The upstream did not answer the call in time.", 504) from None
    except httpx.HTTPError as exc:
        log.warning("upstream unreachable for a call: %s", type(exc).__name__)
        raise upstream_unavailable(
            f"The upstream could not be reached ({type(exc).__name__})."
        ) from None
    if response.status_code >= 400:
        detail = upstream.redact(error_message(response.content))
        log.warning("upstream refused the call: HTTP %d", response.status_code)
        raise upstream_unavailable(
            f"The upstream refused the call (HTTP {response.status_code})"
            + (f": {detail}" if detail else ".")
        )
    call_id = upstream_call_id(response)
    answer = response.text
    if not answer.lstrip().startswith("v=0"):
        log.warning("upstream call answer is not SDP")
        await hang_up_upstream_call(upstream, call_id)
        raise upstream_unavailable("The upstream's answer was not an SDP description.")
    return call_id, answer


def upstream_call_id(response: httpx.Response) -> str:
    """The call id from `Location` (OpenAI's form), else from `x-openai-call-id`."""
    location = str(response.headers.get("location") or "")
    call_id = location.rstrip("/").rsplit("/", 1)[-1]
    if not call_id:
        call_id = str(response.headers.get("x-openai-call-id", ""))
    if not _CALL_ID.fullmatch(call_id):
        log.warning("upstream call answer carried no usable call id")
        raise upstream_unavailable("The upstream's answer did not name the call.")
    return call_id


async def hang_up_upstream_call(upstream: Upstream, call_id: str) -> bool:
    """`POST {upstream}/realtime/calls/{id}/hangup`; True when the upstream accepted it.
    Failures are logged (status or exception type only), never raised."""
    try:
        async with httpx.AsyncClient(timeout=_timeout(upstream, HANGUP_TIMEOUT_SECONDS)) as http:
            response = await http.post(
                upstream.http_url(f"realtime/calls/{call_id}/hangup"),
                headers=upstream.auth_headers(),
            )
    except httpx.HTTPError as exc:
        log.warning("upstream hangup of %s failed: %s", call_id, type(exc).__name__)
        return False
    if response.status_code >= 400:
        log.warning("upstream hangup of %s refused: HTTP %d", call_id, response.status_code)
        return False
    return True
