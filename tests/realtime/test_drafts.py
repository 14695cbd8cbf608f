"""SessionRunner drafts with fake engines: adopted, discarded, refused when stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import Mock

from realtime2.engine.interfaces import (
    AudioChunk,
    FloatAudio,
    LLMDone,
    LLMEvent,
    LLMRequest,
    Priority,
    TextDelta,
    TokenUsage,
    Transcript,
)
from realtime2.realtime.drafts import DraftOut
from realtime2.realtime.respond import LiveOut
from realtime2.realtime.runner import SessionRunner
from tests.support.fakes import (
    VAD_RATE,
    FakeLLM,
    FakeSTT,
    FakeTTS,
    b64,
    fake_engines,
    silence,
    tone,
)
from tests.support.runner import Client


class CountingSTT(FakeSTT):
    """Answers "words 1", "words 2", … so each transcription is recognisable."""

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        self.calls.append((len(audio), priority))
        await asyncio.sleep(self.delay)
        return Transcript(f"words {len(self.calls)}", "en", len(audio) / VAD_RATE)


class EchoLLM(FakeLLM):
    """Repeats the last user message, so a reply shows which transcript it answered."""

    async def stream(
        self, request: LLMRequest, *, priority: Priority = Priority.INTERACTIVE
    ) -> AsyncIterator[LLMEvent]:
        self.requests.append(request)
        self.running += 1
        try:
            said = [m.content for m in request.messages if m.role == "user"]
            last = said[-1] if said else "nothing"  # the turn's transcript failed
            for piece in (f"You said {last}. ", "Right?"):
                await asyncio.sleep(self.delay)
                yield TextDelta(piece)
            yield LLMDone("stop", TokenUsage(10, 2, 0))
        finally:
            self.running -= 1


async def _draft_finished(runner: SessionRunner) -> None:
    """Until the pending draft's reply has run to its end (audio and all)."""
    (draft,) = runner.drafts.running.values()  # PrepareDraft ran while the audio was fed
    assert draft.reply is not None
    await asyncio.wait_for(asyncio.shield(draft.reply), 5.0)


async def _send_audio(client: Client, *chunks: Any) -> None:
    for chunk in chunks:
        await client.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})


def _transcription_on() -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "audio": {"input": {"transcription": {"model": "whisper-1"}}},
        },
    }


async def test_the_turn_adopts_the_draft_and_transcribes_once() -> None:
    stt, llm, tts = CountingSTT(), EchoLLM(), FakeTTS()
    runner = SessionRunner(fake_engines(stt=stt, llm=llm, tts=tts))
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(500), silence(100))
    await _draft_finished(runner)  # the draft runs to completion during the pause
    assert client.types()[-1] == "input_audio_buffer.speech_started"  # nothing of the draft
    await _send_audio(client, silence(600))
    done = await client.wait_for("response.done")
    assert runner.drafts_adopted == runner.drafts_audio_ready == 1  # audio was waiting
    assert len(stt.calls) == 1 and len(llm.requests) == 1
    assert done["response"]["status"] == "completed"
    transcript = done["response"]["output"][0]["content"][0]["transcript"]
    assert transcript == "You said words 1. Right?"
    types = client.types()
    assert types.index("conversation.item.input_audio_transcription.completed") < types.index(
        "response.created"
    )
    assert types.count("response.output_audio.delta") >= 4
    await runner.close()


async def test_talking_on_discards_the_draft_and_nothing_of_it_leaks() -> None:
    stt, llm, tts = CountingSTT(), EchoLLM(delay=0.01), FakeTTS()
    runner = SessionRunner(fake_engines(stt=stt, llm=llm, tts=tts))
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(400), silence(200))
    await asyncio.sleep(0.05)  # first draft: transcribed, reply under way
    await _send_audio(client, tone(300), silence(700))
    done = await client.wait_for("response.done")
    await asyncio.sleep(0.1)
    assert len(stt.calls) == 2  # one per pause; the commit reused the second
    assert runner.drafts_adopted == 1
    text = str(client.events)
    assert "words 1" not in text
    assert done["response"]["output"][0]["content"][0]["transcript"] == "You said words 2. Right?"
    assert client.types().count("response.created") == 1
    assert llm.running == 0 and tts.running == 0
    assert not runner.drafts.running and not runner._responses
    await runner.close()


async def test_a_draft_for_an_outdated_conversation_is_not_used() -> None:
    stt, llm = CountingSTT(), EchoLLM()
    runner = SessionRunner(fake_engines(stt=stt, llm=llm))
    runner.start()
    client = Client(runner)
    await _send_audio(client, silence(100), tone(500), silence(100))
    await asyncio.sleep(0.05)
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "typed too"}],
            },
        }
    )
    await _send_audio(client, silence(600))
    await client.wait_for("response.done")
    assert runner.drafts_adopted == 0
    assert len(stt.calls) == 1  # the transcript is still the draft's
    contents = [m.content for m in llm.requests[-1].messages]
    assert contents[-2:] == ["typed too", "words 1"]
    await runner.close()


async def test_barge_in_cancels_an_adopted_draft() -> None:
    llm = FakeLLM(script=["One. "] * 40, delay=0.01)
    tts = FakeTTS(delay=0.01)
    runner = SessionRunner(fake_engines(llm=llm, tts=tts))
    runner.start()
    client = Client(runner)
    await _send_audio(client, silence(100), tone(500), silence(700))
    await client.wait_for("response.output_audio.delta")
    assert runner.drafts_adopted == 1
    await _send_audio(client, tone(300))
    done = await client.wait_for("response.done")
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    await asyncio.sleep(0.1)
    after = client.types()[client.types().index("response.done") + 1 :]
    assert "response.output_audio.delta" not in after
    assert llm.running == 0 and tts.running == 0
    await runner.close()


async def test_manual_commit_and_response_create_still_work() -> None:
    runner = SessionRunner(fake_engines())
    runner.start()
    client = Client(runner)
    await client.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    await _send_audio(client, silence(100), tone(500), silence(300))
    await client.send({"type": "input_audio_buffer.commit"})
    await client.send({"type": "response.create"})
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "completed"
    assert runner.drafts_adopted == 0 and not runner.drafts.running
    await runner.close()


async def test_transcription_sessions_draft_transcripts_and_keep_no_drafts() -> None:
    stt = CountingSTT()
    runner = SessionRunner(fake_engines(stt=stt), kind="transcription")
    runner.start()
    client = Client(runner)
    for turn in range(6):
        await _send_audio(client, silence(100), tone(400), silence(700))
        done = await client.wait_for(
            "conversation.item.input_audio_transcription.completed", turn + 1
        )
        assert done["transcript"] == f"words {turn + 1}"
    assert len(stt.calls) == 6 and runner.drafts_prepared == 6
    assert not runner.drafts.running
    assert not [t for t in client.types() if t.startswith("response.")]
    await runner.close()


class GatedSTT(CountingSTT):
    """Its first transcription waits for `release`: a draft still transcribing when the
    turn is committed (a busy CPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def transcribe(
        self,
        audio: FloatAudio,
        *,
        language: str | None = None,
        prompt: str | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> Transcript:
        if not self.calls:
            self.calls.append((len(audio), priority))
            await self.release.wait()
            return Transcript("words 1", "en", len(audio) / VAD_RATE)
        return await super().transcribe(audio, language=language, prompt=prompt, priority=priority)


async def test_a_barge_in_while_the_draft_transcribes_keeps_that_transcript() -> None:
    """The turn is committed while its draft still transcribes, and the user speaks again
    before the transcript comes: the response is cancelled, with the draft's reply. The
    reply was awaiting the transcript, and cancelling it cancelled the transcript too, so
    the committed item never got one, and every later response, waiting for it, never
    started (four sessions on a slow CPU stalled this way)."""
    stt, llm = GatedSTT(), EchoLLM()
    runner = SessionRunner(fake_engines(stt=stt, llm=llm))
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(500), silence(700))
    await client.wait_for("response.created")  # committed; its draft still transcribing
    await _send_audio(client, tone(400))
    cancelled = await client.wait_for("response.done")
    assert cancelled["response"]["status"] == "cancelled"
    stt.release.set()
    first = await client.wait_for("conversation.item.input_audio_transcription.completed")
    assert first["transcript"] == "words 1"
    await _send_audio(client, silence(700))
    done = await client.wait_for("response.done", count=2)
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["transcript"] == "You said words 2. Right?"
    await runner.close()


async def test_a_committed_turn_whose_draft_transcript_is_cancelled_fails_it() -> None:
    """Nothing cancels a committed turn's transcript now; should anything ever do so, the
    item's transcript fails (an error event) and so does the response waiting for it,
    instead of the session waiting for it forever."""
    stt = GatedSTT()
    runner = SessionRunner(fake_engines(stt=stt))
    runner.start()
    client = Client(runner)
    await client.send(_transcription_on())
    await _send_audio(client, silence(100), tone(500), silence(700))
    await client.wait_for("response.created")  # committed; its draft still transcribing
    (draft,) = runner.drafts.running.values()
    assert draft.transcript is not None
    draft.transcript.cancel()
    failed = await client.wait_for("conversation.item.input_audio_transcription.failed")
    assert failed["error"]["code"] == "transcription_cancelled"
    done = await client.wait_for("response.done")
    assert done["response"]["status"] == "failed"
    await runner.close()


def test_a_drafts_audio_starts_to_play_only_once_the_draft_is_adopted() -> None:
    out = DraftOut()
    out.pace.audio(AudioChunk(pcm=bytes(24000 * 2), sample_rate=24000))  # one second
    time.sleep(0.05)
    assert out.pace.lead() == 1.0  # recorded, heard by nobody: all of it is still ahead
    out.attach(Mock(spec=LiveOut))  # a live output that takes anything
    time.sleep(0.05)
    assert out.pace.lead() < 0.96  # adopted: it plays
