"""How `realtime2 serve` runs uvicorn: limits on connections, not on requests.

uvicorn by itself waits forever for the rest of a request's headers (its keep-alive timer
only runs between complete requests, and any byte cancels it), accepts headers of any size
(httptools has no cap) and answers `limit_concurrency` only to requests whose headers have
arrived, so a few hundred sockets that send half a request hold the server's connections
and memory indefinitely. `GuardedHttpProtocol` closes a connection whose request head is
not complete within `handshake_timeout_s` (from connecting, or from the previous response),
answers 431 to a head over `max_header_bytes`, and refuses connections past
`max_connections` at once with 503 instead of letting them wait. A WebSocket handshake is an
HTTP request head, so the same deadline covers an upgrade that never completes; once
upgraded, uvicorn's pings close a peer that stops answering.

TLS handshakes are bounded separately by asyncio (60 s before the first byte of HTTP).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from realtime2.config import Settings

log = logging.getLogger(__name__)

# One realtime append may carry 15 MB of base64 audio.
WS_MAX_MESSAGE_BYTES = 20 * 1024 * 1024
# File descriptors kept free for the database, model files and logs beyond the connections.
SPARE_FILES = 256


class GuardedHttpProtocol(HttpToolsProtocol):
    head_timeout: float = 10.0
    max_head_bytes: int = 64 * 1024
    max_connections: int = 2048

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        if len(self.connections) > self.max_connections:
            self._refuse(b"503 Service Unavailable", b"retry-after: 1\r\n")
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting = self._head_timer is not None
        super().data_received(data)
        # Counted only while a head stays incomplete, so a body arriving with the end of
        # its head is not mistaken for header bytes; memory stays within the cap plus one
        # read. (httptools buffers a partial header itself, beyond uvicorn's reach.)
        if waiting and self._head_timer is not None:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(b"431 Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._stop_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next head is due now, unless a pipelined request (head already read) started.
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._await_head()

    def _await_head(self) -> None:
        self._stop_head_timer()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: bytes, extra: bytes = b"") -> None:
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(
                b"HTTP/1.1 " + status + b"\r\n" + extra
                + b"content-length: 0\r\nconnection: close\r\n\r\n"
            )  # fmt: skip
            self.transport.close()


def http_protocol(settings: Settings) -> type[GuardedHttpProtocol]:
    class Configured(GuardedHttpProtocol):
        head_timeout = settings.handshake_timeout_s
        max_head_bytes = settings.max_header_bytes
        max_connections = settings.max_connections

    return Configured


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run`/`uvicorn.Config` besides the app and TLS."""
    proxies: dict[str, Any] = {}
    if settings.trusted_proxies.strip():
        # uvicorn's ProxyHeadersMiddleware: addresses and CIDR networks, or "*".
        proxies = {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}
    return {
        **proxies,
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        "http": http_protocol(settings),
        # Also answers 503 when too many requests run at once (uvicorn counts tasks too).
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "ws_max_size": WS_MAX_MESSAGE_BYTES,
    }


def raise_file_limit(settings: Settings) -> None:
    """Let the process hold `max_connections` sockets: a connection cap above the open-file
    limit would never be reached, and accept() would fail first (EMFILE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = settings.max_connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            log.warning(
                "open-file limit %d is below max_connections + %d; raise it (ulimit -n) "
                "or lower REALTIME2_MAX_CONNECTIONS",
                new,
                SPARE_FILES,
            )


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining before it stops: the first SIGTERM or SIGINT runs
    `before_exit` (the app's drain: realtime2.edge.drain) and only then lets uvicorn shut
    down; a second signal stops at once, as uvicorn does."""

    def __init__(self, config: uvicorn.Config, before_exit: Callable[[], Awaitable[Any]]) -> None:
        super().__init__(config)
        self.before_exit = before_exit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False
        self._drain: asyncio.Task[None] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self._draining or not self.started:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        loop = self._loop

        def start() -> None:
            self._drain = loop.create_task(self._drain_then_exit(sig, frame))

        loop.call_soon_threadsafe(start)

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            await self.before_exit()
        except Exception:
            log.exception("drain failed")
        super().handle_exit(sig, frame)
