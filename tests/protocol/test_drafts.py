"""Speculative drafts in the session core: when they are asked for, used and thrown away."""

from __future__ import annotations

from realtime2.engine.interfaces import ChatMessage
from realtime2.protocol import commands as cmd
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness


def _append(h: Harness, *chunks: object) -> None:
    for chunk in chunks:
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})  # type: ignore[arg-type]


def _transcribing() -> Harness:
    h = Harness(speculative=True)
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "audio": {"input": {"transcription": {"model": "whisper-1"}}},
            },
        }
    )
    return h


def test_pause_drafts_and_the_turn_uses_the_draft() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(600), silence(100))
    (draft,) = h.take(cmd.PrepareDraft)
    assert draft.reply is not None
    assert draft.reply.history.messages == [ChatMessage("system", "Be brief.")]
    # The draft covers the turn so far: padding + speech + the first quiet frames.
    assert 800 <= len(draft.audio) / 16 <= 800 + 100
    assert h.of("input_audio_buffer.speech_stopped") == []
    h.session.on_draft_transcript(draft.draft_id, "What time is it?")
    assert h.drain() == []  # nothing of a draft is visible before the turn ends
    _append(h, silence(500))
    assert h.take(cmd.TranscribeTurn) == []  # the draft's transcript is reused
    (start,) = h.take(cmd.StartResponse)
    assert start.draft_id == draft.draft_id
    assert start.request == cmd.draft_request(draft.reply.history, "What time is it?")
    assert (start.voice, start.modality, start.speed) == (
        draft.reply.voice,
        draft.reply.modality,
        draft.reply.speed,
    )
    types = h.types()
    assert (
        types.index("input_audio_buffer.speech_stopped")
        < types.index("input_audio_buffer.committed")
        < types.index("conversation.item.input_audio_transcription.completed")
        < types.index("response.created")
    )
    completed = h.of("conversation.item.input_audio_transcription.completed")[0]
    assert completed["transcript"] == "What time is it?"
    # Usage counts the committed audio (with its silence window), not the draft's.
    assert completed["usage"]["seconds"] >= 1.3
    assert h.take(cmd.DiscardDraft) == []


def test_speech_after_the_pause_discards_the_draft_and_its_late_transcript() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(400), silence(150))
    (first,) = h.take(cmd.PrepareDraft)
    _append(h, tone(300))
    (discard,) = h.take(cmd.DiscardDraft)
    assert discard == cmd.DiscardDraft(first.draft_id)
    h.session.on_draft_transcript(first.draft_id, "stale words")
    assert h.drain() == []
    _append(h, silence(100))
    (second,) = h.take(cmd.PrepareDraft)
    assert len(second.audio) > len(first.audio)  # the whole turn, both parts
    _append(h, silence(500))
    # The turn ended before the transcript: the response waits for it.
    assert h.take(cmd.StartResponse) == []
    assert "response.created" in h.types()
    h.session.on_draft_transcript(second.draft_id, "all of it")
    h.drain()
    (start,) = h.take(cmd.StartResponse)
    assert start.draft_id == second.draft_id
    assert start.request.messages[-1].content == "all of it"
    transcripts = [
        e["transcript"] for e in h.of("conversation.item.input_audio_transcription.completed")
    ]
    assert transcripts == ["all of it"]
    assert "stale" not in str(h.events)


def test_no_automatic_response_keeps_only_the_transcript() -> None:
    h = Harness(speculative=True)
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "server_vad", "create_response": False}}
                },
            },
        }
    )
    _append(h, silence(200), tone(600), silence(100))
    (draft,) = h.take(cmd.PrepareDraft)
    assert draft.reply is None
    h.session.on_draft_transcript(draft.draft_id, "hello")
    _append(h, silence(500))
    assert h.take(cmd.StartResponse) == [] and "response.created" not in h.types()
    item_id = h.of("input_audio_buffer.committed")[0]["item_id"]
    assert h.session.conversation.get(item_id)["content"][0]["transcript"] == "hello"


def test_a_failed_draft_falls_back_to_transcribing_the_commit() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(600), silence(100))
    (draft,) = h.take(cmd.PrepareDraft)
    h.session.on_draft_failed(draft.draft_id, "transcription_failed", "Transcription failed.")
    h.drain()
    assert h.take(cmd.DiscardDraft) == [cmd.DiscardDraft(draft.draft_id)]
    _append(h, silence(500))
    (transcribe,) = h.take(cmd.TranscribeTurn)
    assert h.take(cmd.StartResponse) == []
    h.session.on_transcript_done(transcribe.item_id, "again", 1.0)
    h.drain()
    (start,) = h.take(cmd.StartResponse)
    assert start.draft_id is None


def test_a_committed_turn_whose_draft_transcript_failed_gets_a_failed_response() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(600), silence(600))  # committed, the draft's text still out
    (draft,) = h.take(cmd.PrepareDraft)
    assert "response.created" in h.types() and h.take(cmd.StartResponse) == []
    h.session.on_draft_failed(draft.draft_id, "transcription_failed", "Transcription failed.")
    h.drain()
    assert h.take(cmd.StartResponse) == []  # no reply drafted from no words
    assert cmd.DiscardDraft(draft.draft_id, keep_transcript=True) in h.take(cmd.DiscardDraft)
    (done,) = h.of("response.done")
    assert done["response"]["status"] == "failed"
    assert done["response"]["status_details"]["error"]["code"] == "transcription_failed"


def test_barge_in_before_the_response_starts_discards_its_draft_reply() -> None:
    h = _transcribing()
    _append(h, silence(200), tone(600), silence(600))  # transcript still outstanding
    (draft,) = h.take(cmd.PrepareDraft)
    assert "response.created" in h.types()
    _append(h, tone(300))  # the user talks over the (not yet started) response
    assert h.of("response.done")[0]["response"]["status_details"]["reason"] == "turn_detected"
    assert cmd.DiscardDraft(draft.draft_id, keep_transcript=True) in h.take(cmd.DiscardDraft)
    assert h.take(cmd.StartResponse) == []


def test_semantic_vad_reads_completeness_from_the_draft() -> None:
    h = Harness(speculative=True)
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
                },
            },
        }
    )
    _append(h, silence(200), tone(600), silence(100))
    (draft,) = h.take(cmd.PrepareDraft)
    h.session.on_draft_transcript(draft.draft_id, "What time is it?")
    # A finished question ends the turn after 250 ms of silence ("high"); without the
    # draft's estimate it would take 1125 ms.
    _append(h, silence(150))
    assert h.of("input_audio_buffer.speech_stopped") == []
    _append(h, silence(40))  # 100 + 150 + 40 ms: past the 250 ms window (32 ms VAD frames)
    assert h.take(cmd.TranscribePartial) == []  # the draft replaces the partial run
    assert len(h.of("input_audio_buffer.speech_stopped")) == 1


def test_manual_commits_never_draft() -> None:
    h = Harness(speculative=True)
    h.send(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
        }
    )
    _append(h, silence(200), tone(600), silence(700))
    h.send({"type": "input_audio_buffer.commit"})
    h.send({"type": "response.create"})
    assert h.take(cmd.PrepareDraft) == []
    (transcribe,) = h.take(cmd.TranscribeTurn)
    h.session.on_transcript_done(transcribe.item_id, "hi", 1.5)
    h.drain()
    (start,) = h.take(cmd.StartResponse)
    assert start.draft_id is None and start.request.messages[-1].content == "hi"
