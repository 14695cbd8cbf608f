"""TLS: `realtime2 serve --ssl-certfile/--ssl-keyfile` serves https, and the npm `openai`
package's Realtime WebSocket client (which always uses wss:) gets `session.created` from
our server over wss on 127.0.0.1, trusting a self-signed certificate through
NODE_EXTRA_CA_CERTS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from realtime2.app import create_app
from tests.support.accounts import new_account
from tests.support.fakes import fake_engines
from tests.support.paths import ROOT
from tests.support.server import build_services, free_port, running

NODE_DIR = ROOT / "tests" / "node"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (so it can be trusted directly)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realtime2 test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _node_client_installed() -> Path:
    """The npm `openai` package from tests/node (package-lock.json); installed when absent
    (`make test` installs it first; this needs only the npm registry)."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "Node.js 20+ and npm are required"
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return NODE_DIR


def test_serve_with_ssl_flags_speaks_https(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "REALTIME2_LOAD_ENGINES": "false",
        "REALTIME2_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
        "REALTIME2_DATA_DIR": str(tmp_path / "data"),
        "REALTIME2_HOST": "127.0.0.1",
        "REALTIME2_PORT": str(port),
    }
    command = [sys.executable, "-m", "realtime2.cli", "serve"]
    command += ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "server exited"
            try:
                reply = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=context, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no https answer"
                time.sleep(0.1)
        assert reply.status_code == 200
        with pytest.raises(httpx.TransportError):  # plain http is not what that port speaks
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.stdout is not None
    assert f"serving on https://127.0.0.1:{port}" in proc.stdout.read()


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[str, str, Path]]:
    """Our app with fake engines behind uvicorn with the same ssl options serve passes."""
    cert, key = self_signed(tmp_path)
    svc = await build_services(tmp_path, fake_engines())
    app = create_app(svc.settings, svc)
    try:
        async with running(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
            acct = await new_account(svc, credits=10_000)
            yield f"https://127.0.0.1:{server.config.port}/v1", acct.key, cert
    finally:
        await svc.close()


async def test_npm_openai_realtime_client_over_wss(tls_server: tuple[str, str, Path]) -> None:
    base_url, key, cert = tls_server
    node_dir = await asyncio.to_thread(_node_client_installed)
    env = {**os.environ, "BASE_URL": base_url, "KEY": key, "NODE_EXTRA_CA_CERTS": str(cert)}
    proc = await asyncio.create_subprocess_exec(
        "node",
        "--experimental-websocket",
        "realtime_tls.mjs",
        cwd=node_dir,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    event = json.loads(out.decode().strip().splitlines()[-1])
    assert event["type"] == "session.created" and event["session"].startswith("sess")
    assert event["url"] == "wss:"
    assert key not in err.decode() + out.decode()
