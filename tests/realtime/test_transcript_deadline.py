"""A transcript that never comes fails its item after a deadline (`stt_input.deadline_s`),
so the response waiting for it fails, naming it, and the session keeps answering."""

from __future__ import annotations

import pytest

from realtime2.realtime import stt_input
from realtime2.realtime.runner import SessionRunner
from tests.realtime.test_drafts import EchoLLM, GatedSTT, _send_audio, _transcription_on
from tests.support.fakes import fake_engines, silence, tone
from tests.support.runner import Client


@pytest.fixture(autouse=True)
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stt_input, "DEADLINE_S", 0.3)
    monkeypatch.setattr(stt_input, "DEADLINE_PER_AUDIO_S", 0.0)


@pytest.mark.parametrize("speculative", [True, False], ids=["draft", "committed turn"])
async def test_a_transcript_that_never_comes_fails_and_the_session_goes_on(
    speculative: bool,
) -> None:
    # Its first transcription waits for a release that never comes: it never answers.
    runner = SessionRunner(fake_engines(stt=GatedSTT(), llm=EchoLLM()), speculative=speculative)
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(500), silence(700))
    failed = await client.wait_for("conversation.item.input_audio_transcription.failed")
    assert failed["error"]["code"] == "transcription_timeout"
    first = await client.wait_for("response.done")
    assert first["response"]["status"] == "failed"  # no words to answer
    assert first["response"]["status_details"]["error"]["code"] == "transcription_timeout"
    await _send_audio(client, tone(500), silence(700))
    done = await client.wait_for("conversation.item.input_audio_transcription.completed")
    assert done["transcript"] == "words 2"
    second = await client.wait_for("response.done", count=2)
    assert second["response"]["output"][0]["content"][0]["transcript"] == "You said words 2. Right?"
    await runner.close()


def test_the_deadline_grows_with_the_audio() -> None:
    assert stt_input.deadline_s(16_000 * 10, 16_000) == pytest.approx(0.3)
    stt_input.DEADLINE_PER_AUDIO_S = 1.0  # restored by the fixture
    assert stt_input.deadline_s(16_000 * 10, 16_000) == pytest.approx(10.3)
