"""Several replicas behind a real load balancer: `soak.fake_server` processes (the real app
on the fake engines, draining on SIGTERM like `realtime2 serve`) and Debian's nginx, run as
a foreground process with a temporary configuration on a free loopback port
(`make balancer` installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_NGINX_CONF = """
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream realtime2 {{
{servers}
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 30m;
        location / {{
            proxy_pass http://realtime2;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
            proxy_read_timeout 3700s;
            proxy_send_timeout 3700s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK)


@dataclass
class Replica:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_replicas(n: int, env: dict[str, str], tmp_path: Path) -> list[Replica]:
    """`n` fake-engine server processes started at once (so they also race to migrate)."""
    replicas = []
    for i in range(n):
        port = free_port()
        log = tmp_path / f"replica{i}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "soak.fake_server", str(port)],
            env={**os.environ, "REALTIME2_DATA_DIR": str(tmp_path / f"data{i}"), **env},
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        replicas.append(Replica(port, process, log))
    return replicas


def wait_ready(urls: list[str], processes: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending and time.monotonic() < deadline:
        for proc in processes:
            if proc.poll() is not None:
                raise RuntimeError(f"a process exited at start-up ({proc.args})")
        for url in list(pending):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    pending.remove(url)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise RuntimeError(f"not ready in {timeout}s: {pending}")


@dataclass
class Balancer:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path
    upstreams: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/realtime"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_nginx(ports: list[int], tmp_path: Path) -> Balancer:
    directory = tmp_path / "nginx"
    directory.mkdir()
    port = free_port()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports)
    conf = directory / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(dir=directory, servers=servers, port=port))
    process = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf), "-g", "daemon off;"],
        stdout=(directory / "stdout.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    balancer = Balancer(port, process, directory, list(ports))
    wait_ready([balancer.url], [process], timeout=30)
    return balancer
