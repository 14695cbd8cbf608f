"""The shipped human speech loads, is cut where turns.json says, and keeps its pauses."""

from __future__ import annotations

from tests.support.human_speech import DATA, human_turns


def test_every_turn_loads_at_the_rate_asked_with_voice_inside() -> None:
    turns = human_turns(24000)
    assert len(turns) == 24
    for turn in turns:
        assert turn.sample_rate == 24000
        assert 1.0 < turn.seconds < 15.0, turn.name
        assert 0 < turn.voiced_end <= len(turn.pcm) // 2, turn.name
        assert turn.text


def test_the_read_passage_pauses_mid_sentence() -> None:
    sentences = human_turns(16000, kinds=("sentence",))
    paused = [t for t in sentences if t.pauses_ms]
    # What semantic_vad's short window must not cut: most sentences pause inside.
    assert len(paused) >= len(sentences) // 2
    assert max(b - a for t in paused for a, b in t.pauses_ms) >= 300


def test_questions_and_licences_are_shipped() -> None:
    questions = human_turns(16000, kinds=("question",))
    assert [t.text for t in questions] == [
        "Which folder should I save the message to?",
        "Change to which folder?",
    ]
    notice = (DATA / "README.md").read_text()
    assert "CC-BY-SA-3.0" in notice and "public domain" in notice
    size = sum(p.stat().st_size for p in DATA.iterdir())
    assert size < 4_000_000
