"""`realtime2 serve --sip HOST:PORT` as a real process: the listener answers on UDP."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from realtime2.transports.sip.message import SipResponse, parse_message
from tests.support.server import start_server
from tests.support.sip import free_port_both


def test_serve_with_sip_answers_options(tmp_path: Path) -> None:
    port = free_port_both()
    server = start_server(tmp_path, {}, args=("--sip", f"127.0.0.1:{port}"))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(2.0)
            options = (
                f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};branch=z9hG4bK1\r\n"
                "From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\n"
                "Call-ID: serve-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            deadline = time.monotonic() + 60
            answer = None
            while answer is None and time.monotonic() < deadline:
                sock.sendto(options, ("127.0.0.1", port))
                try:
                    answer = parse_message(sock.recv(4096))
                except TimeoutError:
                    continue
        assert isinstance(answer, SipResponse) and answer.status == 200
    finally:
        server.stop()
