"""SessionRunner early drafts with fake engines: a guess at the fade, kept or started again.

A tone that stops fades one VAD frame before the pause (tests/protocol/test_early_drafts.py);
the runner guesses from the audio up to the fade only with an STT that runs on this
machine's cores (`STTCapabilities.local`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from realtime2.engine.interfaces import FloatAudio, Priority, Transcript
from realtime2.engine.transcript_pace import GuessMode, TranscriptPace
from realtime2.realtime.runner import SessionRunner
from tests.realtime.test_drafts import EchoLLM, _send_audio, _transcription_on
from tests.support.fakes import VAD_RATE, FakeSTT, FakeTTS, fake_engines, silence, tone
from tests.support.runner import Client


class LocalSTT(FakeSTT):
    """A local STT; with `by_length` it hears how much audio it was given, so the guess
    (audio up to the fade) and the pause's transcript differ."""

    capabilities = replace(FakeSTT.capabilities, local=True)

    def __init__(self, text: str = "What time is it?", *, by_length: bool = False) -> None:
        super().__init__(text)
        self.by_length = by_length

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        self.calls.append((len(audio), priority))
        await asyncio.sleep(0)
        text = f"{len(audio)} samples" if self.by_length else self.text
        return Transcript(text, "en", len(audio) / VAD_RATE)


async def _turn(
    stt: LocalSTT | FakeSTT, guesses: GuessMode = "auto"
) -> tuple[SessionRunner, EchoLLM, Client, dict[str, object]]:
    llm = EchoLLM()
    engines = fake_engines(stt=stt, llm=llm, tts=FakeTTS())
    engines.transcript_pace = TranscriptPace(guesses)
    runner = SessionRunner(engines)
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(500), silence(70))  # up to the fade
    await asyncio.sleep(0.05)  # the guess and its reply run before the pause
    await _send_audio(client, silence(40))  # the pause
    await _send_audio(client, silence(600))
    done = await client.wait_for("response.done")
    return runner, llm, client, done


def _of(client: Client, kind: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["type"] == kind]


def _answer(done: dict[str, object]) -> str:
    response = done["response"]
    assert isinstance(response, dict)
    return str(response["output"][0]["content"][0]["transcript"])


async def test_a_guess_with_the_pauses_words_is_the_adopted_reply() -> None:
    stt = LocalSTT()
    runner, llm, client, done = await _turn(stt)
    assert runner.drafts.guessed == runner.drafts.guesses_kept == 1
    assert len(stt.calls) == 2  # the guess, then the audio up to the pause
    assert stt.calls[0][0] < stt.calls[1][0]
    assert len(llm.requests) == 1  # begun on the guess, before the pause
    assert runner.drafts_adopted == 1
    assert _answer(done) == "You said What time is it?. Right?"
    completed = _of(client, "conversation.item.input_audio_transcription.completed")
    assert completed[0]["transcript"] == "What time is it?"
    await runner.close()


async def test_a_guess_with_other_words_is_dropped_and_the_reply_answers_the_item() -> None:
    stt = LocalSTT(by_length=True)
    runner, llm, client, done = await _turn(stt)
    assert runner.drafts.guessed == 1 and runner.drafts.guesses_kept == 0
    guess, confirmed = (f"{n} samples" for n, _ in stt.calls)
    assert [r.messages[-1].content for r in llm.requests] == [guess, confirmed]
    assert runner.drafts_adopted == 1
    assert _answer(done) == f"You said {confirmed}. Right?"
    completed = _of(client, "conversation.item.input_audio_transcription.completed")
    assert completed[0]["transcript"] == confirmed
    # Nothing of the dropped reply reached the client.
    said = [e["delta"] for e in _of(client, "response.output_audio_transcript.delta")]
    assert guess not in "".join(said)
    await runner.close()


async def test_an_upstream_stt_is_not_asked_to_guess() -> None:
    stt = FakeSTT("What time is it?")
    runner, llm, _, done = await _turn(stt)
    assert runner.drafts.guessed == 0
    assert len(stt.calls) == 1 and len(llm.requests) == 1
    assert _answer(done) == "You said What time is it?. Right?"
    await runner.close()


async def test_an_operator_who_said_never_gets_no_guess() -> None:
    stt = LocalSTT()
    runner, llm, _, done = await _turn(stt, guesses="never")
    assert runner.drafts.guessed == 0
    assert len(stt.calls) == 1 and len(llm.requests) == 1  # the pause's transcript only
    assert _answer(done) == "You said What time is it?. Right?"
    await runner.close()
