"""The translation protocol without I/O: frames in, events and phrase commands out."""

from __future__ import annotations

import json
from typing import Any

from realtime2.translation.session import Closed, TranslatePhrase, TranslationSession
from realtime2.translation.voices import TargetVoice
from tests.support.fakes import FakeVAD, b64, silence, tone
from tests.support.translation_validate import assert_valid_translation

LANGS = {"fr": TargetVoice("fr", "French", "espeak"), "en": TargetVoice("en", "English", "engine")}


def new_session() -> TranslationSession:
    vad = FakeVAD()
    return TranslationSession(
        model="gpt-realtime-translate",
        vad=vad.new_stream(),
        vad_rate=vad.capabilities.sample_rate,
        vad_frame_samples=vad.capabilities.frame_samples,
        resolve_language=lambda code: LANGS.get(code.lower().split("-")[0]),
        supported_languages=lambda: sorted(LANGS),
    )


def send(s: TranslationSession, **event: Any) -> list[dict[str, Any]]:
    s.receive_text(json.dumps(event))
    events = s.events_to_send()
    for item in events:
        assert_valid_translation(item)
    return events


def configure(session: TranslationSession, language: str = "fr-FR") -> None:
    update = {
        "audio": {
            "input": {"transcription": {"model": "gpt-4o-mini-transcribe"}},
            "output": {"language": language},
        }
    }
    (updated,) = send(session, type="session.update", session=update)
    assert updated["type"] == "session.updated"


def test_created_then_updated_with_language_and_transcription() -> None:
    session = new_session()
    (created,) = session.events_to_send()
    assert_valid_translation(created)
    assert created["session"]["type"] == "translation"
    assert created["session"]["audio"]["output"]["language"] is None
    update = {
        "audio": {
            "input": {
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "noise_reduction": {"type": "near_field"},
            },
            "output": {"language": "fr-FR"},
        }
    }
    (updated,) = send(session, type="session.update", session=update)
    audio = updated["session"]["audio"]
    assert audio["output"]["language"] == "fr"
    assert audio["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert audio["input"]["noise_reduction"]["type"] == "near_field"
    # A later update that only names the language keeps the input settings.
    (again,) = send(
        session, type="session.update", session={"audio": {"output": {"language": "en"}}}
    )
    assert again["session"]["audio"]["input"]["transcription"] is not None


def test_bad_requests_are_errors_and_the_session_lives_on() -> None:
    session = new_session()
    session.events_to_send()
    (err,) = send(
        session,
        type="session.update",
        event_id="evt_1",
        session={"audio": {"output": {"language": "tlh"}}},
    )
    assert err["error"]["code"] == "unsupported_language"
    assert err["error"]["event_id"] == "evt_1"
    assert err["error"]["param"] == "session.audio.output.language"
    assert "en, fr" in err["error"]["message"]
    assert session.target is None

    (err,) = send(session, type="session.update", session={"voice": "marin"})
    assert (err["error"]["code"], err["error"]["param"]) == ("invalid_session", "session.voice")
    (err,) = send(session, type="input_audio_buffer.commit", event_id="evt_2")
    assert (err["error"]["code"], err["error"]["event_id"]) == ("unknown_event", "evt_2")
    (err,) = send(session, type="session.input_audio_buffer.append", audio="***")
    assert err["error"]["code"] == "invalid_audio"
    session.receive_text("{nope")
    assert session.events_to_send()[0]["error"]["code"] == "invalid_json"
    configure(session)


def test_phrases_become_commands_mid_speech_and_close_waits_for_them() -> None:
    session = new_session()
    session.events_to_send()
    configure(session)
    for chunk in [tone(1000), silence(500), tone(1200)]:
        for start in range(0, len(chunk), 4800):  # 200 ms appends, as the API suggests
            send(
                session,
                type="session.input_audio_buffer.append",
                audio=b64(chunk[start : start + 4800]),
            )
    commands = session.commands()
    # The first phrase was cut at the pause, while the second is still being spoken.
    assert len(commands) == 1 and isinstance(commands[0], TranslatePhrase)
    assert commands[0].target == LANGS["fr"] and commands[0].transcribe_input
    assert 900 <= commands[0].phrase.end_ms - commands[0].phrase.start_ms <= 1500

    session.input_transcript("Hello there.", 1200)
    session.output_transcript(session.output_separator() + "Bonjour.", 1200)
    session.output_audio(b"\x00\x01" * 100, 1200)
    session.phrase_done()
    session.input_transcript("How are you?", 2800)
    events = session.events_to_send()
    for item in events:
        assert_valid_translation(item)
    deltas = [e["delta"] for e in events if e["type"] == "session.input_transcript.delta"]
    assert deltas == ["Hello there.", " How are you?"]  # append-only, spaced once
    assert session.output_separator() == " "

    assert send(session, type="session.close") == []  # the last phrase is still pending
    (last,) = session.commands()
    assert isinstance(last, TranslatePhrase)
    session.phrase_done()
    (closed,) = session.events_to_send()
    assert closed["type"] == "session.closed"
    assert isinstance(session.commands()[0], Closed)


def test_speech_before_a_language_is_set_is_flagged_once() -> None:
    session = new_session()
    session.events_to_send()
    for _ in range(2):
        session.receive_text(
            json.dumps({"type": "session.input_audio_buffer.append", "audio": b64(tone(600))})
        )
        session.receive_text(
            json.dumps({"type": "session.input_audio_buffer.append", "audio": b64(silence(600))})
        )
    errors = [e for e in session.events_to_send() if e["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == ["missing_output_language"]
    assert session.commands() == []  # neither translation nor transcription was asked for
    session.close_gracefully()
    assert session.events_to_send()[0]["type"] == "session.closed"
