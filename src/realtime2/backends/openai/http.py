"""Shared HTTP plumbing for the OpenAI-compatible backends: clients, auth, error mapping.

Every failure to get an answer becomes an `EngineUnavailableError` whose message names the
upstream and, where the upstream gave one, its error message. The API key never appears in
a message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from realtime2.backends.openai.settings import RemoteRole
from realtime2.engine.interfaces import EngineUnavailableError

log = logging.getLogger(__name__)


class UpstreamRequestError(EngineUnavailableError):
    """The upstream rejected the request (4xx): misconfiguration or a bad input."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, code="upstream_error")
        self.status = status


class UpstreamClient:
    """An httpx client for one upstream role, recreated if the event loop changes."""

    def __init__(self, role: RemoteRole, what: str) -> None:
        self.role = role
        self.what = what  # e.g. "LLM upstream"
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _headers(self) -> dict[str, str]:
        if self.role.api_key is None:
            return {}
        return {"Authorization": f"Bearer {self.role.api_key.get_secret_value()}"}

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                base_url=self.role.base_url + "/",
                headers=self._headers(),
                timeout=httpx.Timeout(self.role.timeout_s, connect=min(self.role.timeout_s, 10.0)),
            )
            self._loop = loop
        return self._client

    @asynccontextmanager
    async def stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Open a streamed response; non-2xx statuses and transport errors are raised."""
        try:
            async with self.client().stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                yield response
        except httpx.TimeoutException as exc:
            raise EngineUnavailableError(
                f"{self.what} at {self.role.base_url} timed out", code="upstream_unavailable"
            ) from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailableError(
                f"{self.what} at {self.role.base_url} is unreachable ({type(exc).__name__})",
                code="upstream_unavailable",
            ) from exc

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async with self.stream(method, path, **kwargs) as response:
            await response.aread()
            return response

    def _status_error(self, response: httpx.Response) -> EngineUnavailableError:
        detail = upstream_message(response)
        text = f"{self.what} returned HTTP {response.status_code}" + (
            f": {detail}" if detail else ""
        )
        log.warning("%s: HTTP %d from %s", self.what, response.status_code, self.role.base_url)
        if response.status_code >= 500 or response.status_code == 429:
            return EngineUnavailableError(text, code="upstream_unavailable")
        return UpstreamRequestError(text, response.status_code)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def upstream_message(response: httpx.Response) -> str:
    """The upstream's own error message (OpenAI error shape), shortened; never headers."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return response.text[:200].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])[:300]
    return ""
