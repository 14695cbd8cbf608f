from __future__ import annotations

from realtime2.engine.sentences import SentenceChunker


def feed_all(chunker: SentenceChunker, deltas: list[str]) -> list[str]:
    out: list[str] = []
    for delta in deltas:
        out.extend(chunker.feed(delta))
    return out + chunker.flush()


def tokens(text: str, size: int = 3) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def test_splits_sentences_as_they_complete() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("Hello there") == []
    assert chunker.feed(".") == []  # "." needs following whitespace to count (3.5, e.g.)
    assert chunker.feed(" How are") == ["Hello there."]
    assert chunker.feed(" you? I am") == ["How are you?"]
    assert chunker.flush() == ["I am"]
    assert chunker.flush() == []


def test_token_boundaries_do_not_matter() -> None:
    text = "It is 3.5 degrees outside. Dr. Smith said so! Bring a coat, please."
    expected = ["It is 3.5 degrees outside.", "Dr. Smith said so!", "Bring a coat, please."]
    for size in (1, 2, 5, 100):
        assert (
            feed_all(SentenceChunker(first_clause_min_chars=1000), tokens(text, size)) == expected
        )


def test_first_long_clause_is_emitted_early() -> None:
    chunker = SentenceChunker(
        first_clause_min_chars=20, first_phrase_min_chars=None, first_max_chars=48
    )
    out = chunker.feed("Well, the weather in Paris today is mild, with a light breeze ")
    assert out == ["Well, the weather in Paris today is mild,"]
    # Only the first chunk may be a clause; later commas wait for the sentence end.
    assert chunker.feed("and some sun, later on. Next") == [
        "with a light breeze and some sun, later on."
    ]
    assert chunker.flush() == ["Next"]


def test_short_first_clause_waits() -> None:
    chunker = SentenceChunker(first_clause_min_chars=20)
    assert chunker.feed("Yes, ") == []
    assert chunker.feed("of course. ") == ["Yes, of course."]


def test_run_on_text_is_cut_at_a_space() -> None:
    chunker = SentenceChunker(max_chars=50)
    words = "word " * 30
    out = chunker.feed(words)
    assert out and all(len(chunk) <= 50 for chunk in out)
    assert " ".join(out + chunker.flush()).split() == words.split()


def test_flush_resets_for_next_reply() -> None:
    chunker = SentenceChunker(first_clause_min_chars=5)
    assert chunker.feed("Right then, fine ") == ["Right then,"]
    chunker.flush()
    assert chunker.feed("Again then, fine ") == ["Again then,"]


def test_a_long_later_sentence_is_split_at_a_clause() -> None:
    chunker = SentenceChunker(
        first_clause_min_chars=1000, first_phrase_min_chars=None, long_clause_chars=40
    )
    assert chunker.feed("Short one. ") == ["Short one."]
    long = "The dragon flew over the hills and the rivers, then over the sea, and home. "
    assert chunker.feed(long) == [
        "The dragon flew over the hills and the rivers,",
        "then over the sea, and home.",
    ]


def test_a_long_first_sentence_is_cut_early_for_first_audio() -> None:
    chunker = SentenceChunker(first_max_chars=30, first_phrase_min_chars=None)
    out = chunker.feed("Bees are flying insects that make honey from the nectar of flowers. ")
    assert out[0] == "Bees are flying insects that"
    assert out[1:] == ["make honey from the nectar of flowers."]


def test_the_default_first_chunk_is_short_for_first_audio() -> None:
    # A draft must fit STT, the LLM's first chunk and its synthesis into the silence window.
    chunker = SentenceChunker()
    out = chunker.feed("Sure thing, I can help you find the right folder for that message. ")
    assert out == ["Sure thing,", "I can help you find", "the right folder for that message."]
    out = SentenceChunker().feed("Bright green parrots sometimes mimic human speech. ")
    assert out[0] == "Bright green parrots sometimes"  # no break: cut at a space
    assert len(out[0]) <= 32


def test_the_first_chunk_ends_at_a_phrase_break() -> None:
    """Before a function word that follows a content word (chinks and chunks)."""
    replies = {
        "The capital of France is Paris. ": ["The capital", "of France is Paris."],
        "To save the message to a folder, press 2. ": [
            "To save",
            "the message to a folder,",
            "press 2.",
        ],
        "You can ring the console by dialing 1234. ": [
            "You can ring",
            "the console by dialing 1234.",
        ],
        "He was not a young man who was ill disposed. ": [
            "He was not a young man",
            "who was ill disposed.",
        ],
        # Too short before "on"; "of" is inside "often", and a comma is no phrase break.
        "Yes often, of course. ": ["Yes often,", "of course."],
    }
    for text, expected in replies.items():
        for size in (1, 3, 100):
            assert feed_all(SentenceChunker(), tokens(text, size)) == expected, (text, size)


def test_a_phrase_break_may_follow_an_opening_word_and_its_comma() -> None:
    """A word followed by punctuation ("Sure,") is whole: it does not stop the search for a
    phrase break after it (it did, and such replies' first chunk ran to 30 characters)."""
    replies = {
        "Sure, I'd be happy to help you with that. ": [
            "Sure, I'd be happy",
            "to help you with that.",
        ],
        "Yes, it is possible for a call to wait. ": ["Yes, it is possible", "for a call to wait."],
    }
    for text, expected in replies.items():
        for size in (1, 3, 100):
            assert feed_all(SentenceChunker(), tokens(text, size)) == expected, (text, size)


def test_contractions_and_phrase_final_function_words_are_no_break() -> None:
    """ "I'd" is a pronoun and an auxiliary: "I'd | be happy" would split the verb phrase.
    A function word that ends its phrase ("said so!") would be voiced alone after a seam."""
    replies = {
        "If you'd like to test out the voice over IP, dial 500. ": [
            "If you'd like to test out",
            "the voice over IP,",
            "dial 500.",
        ],
        "It is cold outside. Dr. Smith said so! Bring a coat. ": [
            "It is cold outside.",
            "Dr. Smith said so!",
            "Bring a coat.",
        ],
    }
    for text, expected in replies.items():
        for size in (1, 3, 100):
            assert feed_all(SentenceChunker(), tokens(text, size)) == expected, (text, size)


def test_chunk_limits_double_until_the_later_chunks_own() -> None:
    """Each chunk is synthesised while the ones before it play: a short first chunk is
    followed by short ones, not by a long sentence the listener would wait for."""
    words = "word " * 200
    sizes = [len(c) for c in SentenceChunker(first_max_chars=32, max_chars=180).feed(words)]
    assert sizes[:4] == [29, 59, 124, 179]  # cut at the last space before 32, 64, 128, 180
    assert set(sizes[4:]) == {179}


def test_a_function_word_is_only_cut_before_once_it_is_whole() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("You can disconnect o") == []  # "o" may become "over" or "often"
    assert chunker.feed("ften") == []
    assert chunker.feed(" from") == []  # nothing follows "from" yet: it may be "fromage"
    assert chunker.feed(" the PBX") == ["You can disconnect often"]
    assert chunker.feed(" now. ") == ["from the PBX now."]


def test_phrase_breaks_can_be_turned_off() -> None:
    chunker = SentenceChunker(first_phrase_min_chars=None)
    assert chunker.feed("The capital of France is Paris. ") == ["The capital of France is Paris."]
