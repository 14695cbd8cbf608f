from tests.support.wer import wer


def test_wer() -> None:
    assert wer("the cat sat", "The cat sat.") == 0.0
    assert wer("the cat sat", "the cat") == 1 / 3
    assert wer("the cat sat", "a dog sat down") == 1.0
    assert wer("call me at 3", "Call me at three!") == 0.0
