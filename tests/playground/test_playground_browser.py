"""The Playground in real headless Chromium against a real server on the embedded models.

Chromium's fake microphone plays a Piper WAV of "What is the capital of France?"; the page
gets a client secret, opens the WebRTC call, shows the live transcript, plays the spoken
answer, and after Hang up shows the credits charged and the balance after."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.browser import chromium, cli
from tests.support.server import ServerProcess, start_server
from tests.support.speech import speech, write_wav

pytestmark = pytest.mark.browser

EMAIL = "playground@example.com"
PASSWORD = "playground-test-password"
CREDITS = 5000
RATE = 48000
LEAD_S = 2.0  # the fake mic starts at getUserMedia, before the call is connected
TAIL_S = 14.0  # silence ends the turn; Chromium loops the file after it
INSTRUCTIONS = "Answer in one short sentence."


def _server(tmp_path: Path, credits: int, env: dict[str, str], ready: str) -> ServerProcess:
    cli(tmp_path, "users", "create", EMAIL, "--password", PASSWORD)
    cli(tmp_path, "credits", "grant", EMAIL, str(credits))
    return start_server(tmp_path, env, ready_path=ready, timeout=240)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = _server(tmp_path, CREDITS, {}, "/readyz")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def question_wav(tmp_path: Path) -> Path:
    voice = speech("What is the capital of France?", RATE)
    audio = np.concatenate(
        [np.zeros(int(LEAD_S * RATE), np.float32), voice, np.zeros(int(TAIL_S * RATE), np.float32)]
    )
    return write_wav(tmp_path / "question.wav", audio, RATE)


def microphone(wav: Path | None) -> list[str]:
    """Chromium switches for a microphone playing `wav` (looped), or its built-in beep."""
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    return args


def log_in(browser: Any, server: ServerProcess) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["microphone"], origin=server.url)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.goto(server.url + "/playground")
    assert page.url.startswith(server.url + "/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/playground")
    return context, page, console_errors


def data(page: Any, name: str) -> str:
    value: str = page.get_attribute("#playground", f"data-{name}") or ""
    return value


@pytest.mark.models
def test_talk_in_the_playground(
    server: ServerProcess, question_wav: Path, test_output_dir: Path
) -> None:
    with chromium(microphone(question_wav)) as browser:
        _talk(server, browser, test_output_dir)


def _talk(server: ServerProcess, browser: Any, test_output_dir: Path) -> None:
    context, page, console_errors = log_in(browser, server)
    assert page.inner_text("#pg-balance") == f"{CREDITS:,}"
    assert "sk-gptr2-" not in page.content()

    page.select_option("#pg-model", "realtime-mini")
    page.select_option("#pg-voice", "coral")
    page.fill("#pg-instructions", INSTRUCTIONS)
    page.click("#pg-talk")

    # What was "spoken" into the fake microphone appears as the user's line.
    user_line = page.locator("#pg-transcript .line.user:not(.pending) .text").first
    user_line.wait_for(timeout=60_000)
    said = user_line.inner_text().lower()
    assert "capital" in said and "france" in said, said
    call_id = data(page, "call-id")
    assert call_id

    # The answer: transcript on the page, audio buffer started, sound on the remote track.
    page.wait_for_function(
        "() => Number(document.getElementById('playground').dataset.responses) >= 1",
        timeout=60_000,
    )
    assistant = page.locator("#pg-transcript .line.assistant .text").first
    assert assistant.inner_text().strip()
    assert int(data(page, "assistant-audio")) >= 1
    # Silence decodes to zero energy; a spoken answer measured ~0.15 (sum of level² × s).
    page.wait_for_function(
        "() => Number(document.getElementById('playground').dataset.audioEnergy) > 0.02",
        timeout=30_000,
    )
    assert int(data(page, "audio-samples")) > 0
    # The per-response charge (the seed's flow) already shows credits for this call.
    page.wait_for_function(
        "() => document.getElementById('playground').dataset.charged !== ''", timeout=15_000
    )
    page.screenshot(path=str(test_output_dir / "playground-in-call.png"), full_page=True)

    page.click("#pg-hangup")
    page.wait_for_function(
        "() => document.getElementById('playground').dataset.state === 'idle'", timeout=30_000
    )
    assert page.inner_text("#pg-status") == "Call ended"
    assert page.is_hidden("#pg-error"), page.inner_text("#pg-error")
    charged = int(data(page, "charged"))
    assert charged >= 480  # realtime-mini: the 120-second minimum at 4 credits a second
    balance = int(data(page, "balance"))
    assert balance == CREDITS - charged
    assert page.inner_text("#pg-balance") == f"{balance:,}"
    assert page.inner_text("#pg-charged").startswith(f"{charged:,} (")
    me = context.request.get(server.url + "/api/realtime2/me")
    assert me.ok and me.json()["balance"] == CREDITS - charged
    page.screenshot(path=str(test_output_dir / "playground-after-hangup.png"), full_page=True)

    # Nothing failed or was blocked by the CSP.
    assert console_errors == []
    context.close()
    # The server log holds no secret, no transcript and no instructions.
    log = server.log()
    assert not re.search(r"ek_[A-Za-z0-9_-]{16}", log)
    assert "france" not in log.lower() and INSTRUCTIONS not in log and PASSWORD not in log


def test_a_refused_call_shows_why(tmp_path: Path, test_output_dir: Path) -> None:
    """No models: a server without voice engines refuses the call, and the page says so
    and is ready again (no call id, nothing charged)."""
    proc = _server(tmp_path, 100, {"REALTIME2_LOAD_ENGINES": "false"}, "/healthz")
    try:
        with chromium(microphone(None)) as browser:
            context, page, console_errors = log_in(browser, proc)
            page.select_option("#pg-model", "realtime-pro")
            page.click("#pg-talk")
            page.wait_for_selector("#pg-error:not([hidden])", timeout=15_000)
            assert page.inner_text("#pg-error") == "No voice engine is configured."
            page.wait_for_function(
                "() => document.getElementById('playground').dataset.state === 'idle'"
            )
            assert page.inner_text("#pg-status") == "Ready"
            assert page.is_enabled("#pg-talk") and page.is_disabled("#pg-hangup")
            assert data(page, "call-id") == "" and data(page, "charged") == ""
            assert page.inner_text("#pg-balance") == "100"
            page.screenshot(path=str(test_output_dir / "playground-refused.png"), full_page=True)
            # The only console error is the browser's report of the refused request.
            assert len(console_errors) == 1 and "status of 503" in console_errors[0]
            context.close()
    finally:
        proc.stop()
