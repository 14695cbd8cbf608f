"""Half-open connections against `realtime2 serve` itself (a real process on loopback):
heads that never finish are closed after the handshake timeout, an oversized head gets 431,
connections past the cap get 503 at once, and /healthz answers throughout."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, start_server

TIMEOUT_S = 1.0
CAP = 30
PARTIAL_HEADS = (
    b"",  # connects and says nothing
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",  # a slowloris head
    (  # a WebSocket upgrade that never completes
        b"GET /v1/realtime?model=realtime-mini HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    ),
    # A complete request, then half of the next on the same keep-alive connection.
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\nHo",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "REALTIME2_LOAD_ENGINES": "false",
        "REALTIME2_HANDSHAKE_TIMEOUT_S": str(TIMEOUT_S),
        "REALTIME2_MAX_CONNECTIONS": str(CAP),
        "REALTIME2_MAX_HEADER_BYTES": "16384",
    }
    process = start_server(tmp_path_factory.mktemp("half_open"), env)
    try:
        yield process
    finally:
        process.stop()


def _open(server: ServerProcess, head: bytes) -> socket.socket:
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if head:
        sock.sendall(head)
    return sock


def _closed_after(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closes the socket, and everything it sent before."""
    start, received = time.monotonic(), b""
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - start, received


def _healthz_fast(server: ServerProcess) -> None:
    start = time.monotonic()
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
    assert time.monotonic() - start < 0.5


def test_half_open_heads_are_closed_after_the_timeout(server: ServerProcess) -> None:
    opened = time.monotonic()
    socks = [_open(server, PARTIAL_HEADS[i % len(PARTIAL_HEADS)]) for i in range(20)]
    try:
        _healthz_fast(server)  # the server still answers while they hang
        for i, sock in enumerate(socks):
            _, received = _closed_after(sock)  # recv blocks until the server closes
            if i % len(PARTIAL_HEADS) == 3:  # its complete request was answered first
                assert received.startswith(b"HTTP/1.1 200") and received.count(b"HTTP/1.1") == 1
            else:
                assert received == b""
        # All 20 closed by the server within the timeout (plus slack for a busy machine).
        assert TIMEOUT_S * 0.8 <= time.monotonic() - opened < TIMEOUT_S + 4
    finally:
        for sock in socks:
            sock.close()
    _healthz_fast(server)


def test_an_oversized_head_is_refused(server: ServerProcess) -> None:
    # 20 KB of headers, past the 16 KB cap, without an end; sent at once so that the server
    # has read it all when it closes (unread bytes would turn the close into a reset).
    pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(20))
    sock = _open(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + pad)
    try:
        elapsed, received = _closed_after(sock)
        assert received.startswith(b"HTTP/1.1 431")
        assert elapsed < TIMEOUT_S  # refused for its size, not by the deadline
    finally:
        sock.close()


def test_connections_past_the_cap_are_refused_at_once(server: ServerProcess) -> None:
    socks = [_open(server, b"") for _ in range(CAP)]
    try:
        time.sleep(0.1)  # let the server register them all
        extra = _open(server, b"")
        elapsed, received = _closed_after(extra)
        extra.close()
        assert received.startswith(b"HTTP/1.1 503") and elapsed < TIMEOUT_S
        for sock in socks:  # the idle ones still go at their deadline
            _closed_after(sock)
    finally:
        for sock in socks:
            sock.close()
    _healthz_fast(server)  # and the server has its connections back


def test_served_settings_reach_uvicorn(tmp_path: Path) -> None:
    from realtime2.config import Settings
    from realtime2.serving import uvicorn_options

    settings = Settings(
        data_dir=tmp_path,
        max_connections=7,
        keep_alive_timeout_s=3,
        ws_ping_interval_s=4,
        ws_ping_timeout_s=5,
        handshake_timeout_s=2,
    )
    options = uvicorn_options(settings)
    assert (options["limit_concurrency"], options["timeout_keep_alive"]) == (7, 3)
    assert (options["ws_ping_interval"], options["ws_ping_timeout"]) == (4, 5)
    assert options["http"].head_timeout == 2 and options["http"].max_connections == 7
