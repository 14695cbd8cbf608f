"""Live transcription in the session core: hypotheses asked for while the user speaks,
stable words sent as deltas that only append, `completed` their concatenation."""

from __future__ import annotations

from typing import Any

import pytest

from realtime2.protocol import commands as cmd
from realtime2.protocol.live_transcription import (
    FADING_WAIT_MS,
    PROFILES,
    LiveProfile,
    LiveTurn,
    LocalAgreement,
    continuation,
)
from tests.support.fakes import b64, silence, tone
from tests.support.harness import Harness

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


def _append(h: Harness, *chunks: Any) -> None:
    for chunk in chunks:
        h.send({"type": "input_audio_buffer.append", "audio": b64(chunk)})


def _speak(h: Harness, ms: int, step: int = 100) -> None:
    for _ in range(ms // step):
        _append(h, tone(step))


def _session(kind: str = "transcription", delay: str | None = None, **kwargs: Any) -> Harness:
    h = Harness(kind=kind, live_transcription=True, **kwargs)
    transcription: dict[str, Any] = {"model": "gpt-realtime-whisper"}
    if delay is not None:
        transcription["delay"] = delay
    session: dict[str, Any] = {"type": kind, "audio": {"input": {"transcription": transcription}}}
    h.send({"type": "session.update", "session": session})
    assert not h.of("error")
    return h


def _deltas(h: Harness) -> str:
    return "".join(e["delta"] for e in h.of(DELTA))


def _answer(h: Harness, words: list[str]) -> list[cmd.TranscribePartial]:
    """Answer each live request with the words heard in its audio (one a second), the last
    one garbled (cut off mid-word)."""
    asked = h.take(cmd.TranscribePartial)
    for c in asked:
        assert c.live
        heard = words[: int(len(c.audio) / 16000)]
        if heard:
            heard[-1] = heard[-1][:2] + "~"
        kept = (c.prefix or "").split()
        h.session.on_live_transcript(c.item_id, c.request_id, " ".join(kept + heard[len(kept) :]))
        h.drain()
    return asked


def _w(text: str) -> list[str]:
    return text.split()


WORDS = _w(
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
)


# --- the pure parts ----------------------------------------------------------------------


def test_local_agreement_commits_what_successive_hypotheses_share() -> None:
    agreement = LocalAgreement(2)
    assert agreement.feed(_w("the cat sa~")) == []  # one hypothesis is not enough
    assert agreement.feed(_w("the cat sat on")) == ["the", "cat"]
    assert agreement.feed(_w("the cat sat on the")) == ["sat", "on"]
    assert agreement.feed(_w("the cat sat on a mat.")) == []  # "the" vs "a": wait
    # Case and punctuation aside: "Mat" and "mat." agree.
    assert agreement.feed(_w("the cat sat on a Mat")) == ["a", "Mat"]


def test_three_hypotheses_must_agree_with_xhigh() -> None:
    assert PROFILES["xhigh"].agree == 3
    agreement = LocalAgreement(3)
    assert agreement.feed(["a", "b"]) == []
    assert agreement.feed(["a", "b"]) == []
    assert agreement.feed(["a", "c"]) == ["a"]


def test_continuation_keeps_what_was_sent() -> None:
    assert continuation("", "Hello there.") == "Hello there."
    assert continuation("Hello", "Hello there.") == " there."
    # A decoder that changed a sent word: the sent words stand, the rest follows them.
    assert continuation("Hello the", "Hello, there we go") == " we go"
    # Streamed pieces may end inside a word: the text goes on from there.
    assert continuation("Hello wor", "Hello world.") == "ld."


def test_a_turn_asks_for_one_hypothesis_at_a_time() -> None:
    live = LiveTurn("item_1", 0, LiveProfile(1000, 2))
    assert not live.due(500)
    assert live.due(1000)
    first = live.request(1000)
    assert not live.due(3000)  # one is out
    assert live.answered(first.id + 1) is None  # not the one out
    assert live.answered(first.id) == first
    assert live.due(3000)


def test_a_hypothesis_waits_a_little_while_the_voice_fades() -> None:
    live = LiveTurn("item_1", 0, LiveProfile(1000, 2))
    assert not live.due(1000, fading=True)
    assert not live.due(1000 + FADING_WAIT_MS - 20, fading=True)
    assert live.due(1000 + FADING_WAIT_MS, fading=True)  # a soft voice still gets words
    assert live.due(1000, fading=False)


# --- the session ------------------------------------------------------------------------


def test_no_hypothesis_starts_as_the_user_goes_quiet() -> None:
    """A hypothesis asked for as the voice fades would still run when the pause is noticed,
    beside the draft's transcript of the same audio: it waits, the draft covers it."""
    asked = {}
    for ending in ("quiet", "speech"):
        h = _session("realtime")
        _append(h, silence(200))
        _speak(h, 1100)
        assert len(_answer(h, WORDS)) == 1
        _speak(h, 700)  # the next hypothesis is due 1 s after the first one's audio: in 100 ms
        _append(h, *([silence(20)] * 10) if ending == "quiet" else [tone(200)])
        asked[ending] = len(h.take(cmd.TranscribePartial))
    assert asked == {"quiet": 0, "speech": 1}


def test_words_arrive_while_the_user_speaks_and_completed_is_their_concatenation() -> None:
    h = _session()
    _append(h, silence(200))
    _speak(h, 4000)
    asked = _answer(h, WORDS)
    assert asked  # hypotheses while speaking, each after the committed words
    _speak(h, 1000)
    asked += _answer(h, WORDS)
    _speak(h, 1000)
    asked += _answer(h, WORDS)
    assert h.of("input_audio_buffer.speech_stopped") == []
    early = _deltas(h)
    assert early.split() == WORDS[: len(early.split())] and len(early.split()) >= 3
    assert all(
        e["item_id"] == h.of("input_audio_buffer.speech_started")[0]["item_id"] for e in h.of(DELTA)
    )
    _append(h, silence(800))
    (final,) = h.take(cmd.TranscribeTurn)
    assert final.prefix == early and final.head == ""
    h.session.on_transcript_done(final.item_id, " ".join(WORDS), 6.0)
    h.drain()
    (completed,) = h.of(COMPLETED)
    assert completed["transcript"] == " ".join(WORDS) == _deltas(h)
    # Usage counts the whole turn, not just the audio the final pass decoded.
    assert completed["usage"]["seconds"] >= 6.0


def test_at_most_one_hypothesis_is_outstanding() -> None:
    h = _session()
    _append(h, silence(200))
    _speak(h, 6000)
    assert len(h.take(cmd.TranscribePartial)) == 1  # no answer yet: no second request


def test_an_answer_to_no_outstanding_request_sends_and_asks_nothing() -> None:
    h = _session()
    _append(h, silence(200))
    _speak(h, 3000)
    (asked,) = h.take(cmd.TranscribePartial)
    h.session.on_live_transcript(asked.item_id, asked.request_id + 1, "stale words")
    h.drain()
    assert not h.of(DELTA) and not h.take(cmd.TranscribePartial)  # the real one is still out
    h.session.on_live_transcript(asked.item_id, asked.request_id, "Hello there")
    h.drain()
    assert len(h.take(cmd.TranscribePartial)) == 1  # answered: the next one is due


def test_delay_sets_the_interval_between_hypotheses() -> None:
    counts = {}
    for delay in ("minimal", "xhigh"):
        h = _session(delay=delay)
        _append(h, silence(200))
        requests = 0
        for _ in range(60):
            _append(h, tone(100))
            requests += len(_answer(h, WORDS))
        counts[delay] = requests
    assert counts["minimal"] >= 2 * counts["xhigh"], counts
    assert (
        h.of("session.updated")[-1]["session"]["audio"]["input"]["transcription"]["delay"]
        == "xhigh"
    )


def test_a_final_that_rewrote_sent_words_still_completes_the_deltas() -> None:
    h = _session()
    _append(h, silence(200))
    for _ in range(4):
        _speak(h, 1000)
        _answer(h, WORDS)
    sent = _deltas(h)
    assert sent
    _append(h, silence(800))
    (final,) = h.take(cmd.TranscribeTurn)
    h.session.on_transcript_done(final.item_id, "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT", 4.0)
    h.drain()
    (completed,) = h.of(COMPLETED)
    assert completed["transcript"] == _deltas(h)
    assert completed["transcript"].startswith(sent)


def test_manual_commits_get_live_deltas() -> None:
    h = _session()
    h.send(
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
        }
    )
    for _ in range(4):
        _speak(h, 1000)
        _answer(h, WORDS)
    assert _deltas(h)
    item_id = h.of(DELTA)[0]["item_id"]
    h.send({"type": "input_audio_buffer.commit"})
    (final,) = h.take(cmd.TranscribeTurn)
    assert final.item_id == item_id and final.prefix == _deltas(h)
    h.session.on_transcript_done(item_id, " ".join(WORDS[:8]), 4.0)
    h.drain()
    assert h.of(COMPLETED)[0]["transcript"] == _deltas(h) == " ".join(WORDS[:8])
    assert h.of("input_audio_buffer.committed")[0]["item_id"] == item_id


def test_realtime_input_transcription_is_live_too() -> None:
    h = _session(kind="realtime")
    _append(h, silence(200))
    for _ in range(4):
        _speak(h, 1000)
        _answer(h, WORDS)
    assert _deltas(h)


def test_no_live_words_without_transcription_or_with_logprobs() -> None:
    h = Harness(live_transcription=True)  # realtime, transcription off
    _append(h, silence(200))
    _speak(h, 3000)
    assert h.take(cmd.TranscribePartial) == []
    h = _session()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "include": ["item.input_audio_transcription.logprobs"],
            },
        }
    )
    _append(h, silence(200))
    _speak(h, 3000)
    assert h.take(cmd.TranscribePartial) == []


def test_an_stt_that_cannot_continue_a_transcript_gets_no_hypotheses() -> None:
    h = Harness(kind="transcription")  # live_transcription defaults to False
    _append(h, silence(200))
    _speak(h, 3000)
    assert h.take(cmd.TranscribePartial) == []


def test_a_long_turn_is_closed_into_chunks_at_pauses() -> None:
    h = _session()
    _append(h, silence(200))
    for _ in range(9):
        _speak(h, 1000)
        _answer(h, WORDS)
    _append(h, silence(200))  # a pause after 9 s: the chunk closes here
    (close,) = h.take(cmd.TranscribePartial)
    assert close.prefix and 8.5 <= len(close.audio) / 16000 <= 9.5
    h.session.on_live_transcript(close.item_id, close.request_id, " ".join(WORDS[:9]))
    h.drain()
    assert _deltas(h) == " ".join(WORDS[:9])  # the whole chunk, sent at the pause
    _speak(h, 2000)
    (nxt,) = h.take(cmd.TranscribePartial)
    assert not nxt.prefix and len(nxt.audio) / 16000 < 3  # the new chunk only
    assert nxt.prompt is not None and nxt.prompt.endswith("nine")
    h.session.on_live_transcript(nxt.item_id, nxt.request_id, "ten")
    h.drain()
    _append(h, silence(800))
    (final,) = h.take(cmd.TranscribeTurn)
    assert final.head == " ".join(WORDS[:9]) and len(final.audio) / 16000 < 4
    # The runner reports the item's whole transcript: head joined with the chunk's.
    h.session.on_transcript_done(final.item_id, " ".join(WORDS[:11]), 3.0)
    h.drain()
    assert h.of(COMPLETED)[0]["transcript"] == _deltas(h) == " ".join(WORDS[:11])


@pytest.mark.parametrize("long_chunk", [False, True])
def test_a_draft_transcribes_only_after_the_sent_words(long_chunk: bool) -> None:
    h = _session(speculative=True)
    _append(h, silence(200))
    for _ in range(9 if long_chunk else 4):
        _speak(h, 1000)
        _answer(h, WORDS)
    sent = _deltas(h)
    assert sent
    _append(h, silence(150))
    (draft,) = h.take(cmd.PrepareDraft)
    assert draft.prefix == sent and draft.head == ""
    text = " ".join(WORDS[: 9 if long_chunk else 4])
    h.session.on_draft_transcript(draft.draft_id, text)
    h.drain()
    # A long chunk closes at the pause with the draft's words; a short one only agrees.
    assert (_deltas(h) == text) is long_chunk or _deltas(h) == text
    _append(h, silence(600))
    assert h.take(cmd.TranscribeTurn) == []  # the draft's transcript is the item's
    assert h.of(COMPLETED)[0]["transcript"] == _deltas(h) == text


@pytest.mark.parametrize(("words", "quick"), [("Book a table for two?", True), ("So, um", False)])
def test_semantic_vad_reads_completeness_from_the_live_hypothesis(words: str, quick: bool) -> None:
    h = _session()
    h.send(
        {
            "type": "session.update",
            "session": {
                "type": "transcription",
                "audio": {
                    "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}
                },
            },
        }
    )
    _append(h, silence(200))
    _speak(h, 600)
    assert h.take(cmd.TranscribePartial) == []  # less than a second: no hypothesis yet
    asked: list[cmd.TranscribePartial] = []
    waited = 0
    while not h.of("input_audio_buffer.speech_stopped") and waited < 3000:
        _append(h, silence(50))
        waited += 50
        for c in h.take(cmd.TranscribePartial):
            asked.append(c)
            h.session.on_live_transcript(c.item_id, c.request_id, words)
            h.drain()
    # The pause's probe is a live hypothesis, asked for at once (not background work).
    assert asked[0].live and asked[0].urgent
    assert (waited < 600) is quick, waited


def test_the_reply_prompt_is_warmed_with_the_latest_words_while_the_user_talks() -> None:
    h = _session(kind="realtime", speculative=True)
    _append(h, silence(200))
    warmed: list[cmd.WarmPrompt] = []
    for _ in range(4):
        _speak(h, 1000)
        _answer(h, WORDS)
        new = h.take(cmd.WarmPrompt)
        assert len(new) <= 1
        warmed += new
        if new:
            # The latest hypothesis, not only the agreed words (those sent as deltas): its
            # last word too, which the next decode may still change ("thr~" -> "three").
            last = new[0].request.messages[-1]
            assert last.role == "user"
            assert last.content.startswith(_deltas(h).strip())
            assert last.content.endswith("~")
    assert len(warmed) >= 3, "hypotheses came but the prompt was not warmed with them"
    assert warmed[-1].request.messages[0].role == "system"  # the automatic reply's history
    contents = [w.request.messages[-1].content for w in warmed]
    assert len(set(contents)) == len(contents)  # a prompt already warmed is not sent again


@pytest.mark.parametrize("setup", ["transcription", "no_auto_reply", "not_speculative"])
def test_no_prompt_is_warmed_where_no_automatic_draft_would_use_it(setup: str) -> None:
    kind = "transcription" if setup == "transcription" else "realtime"
    h = _session(kind=kind, speculative=setup != "not_speculative")
    if setup == "no_auto_reply":
        h.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {
                        "input": {
                            "turn_detection": {"type": "server_vad", "create_response": False}
                        }
                    },
                },
            }
        )
    _append(h, silence(200))
    for _ in range(4):
        _speak(h, 1000)
        _answer(h, WORDS)
    assert _deltas(h)  # live words flowed
    assert h.take(cmd.WarmPrompt) == []
