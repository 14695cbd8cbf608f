"""Per-token log-probabilities of a whisper transcript (`include: [...logprobs]`).

The transcript's tokens are scored teacher-forced against the clip's encoding with
CTranslate2's `align` (the call faster-whisper's word timestamps use), which gives the
model's probability of each text token given the audio and the tokens before it: one
log-probability per token of the text the client receives, whichever decoding path
produced it. Costs one extra encoder pass, only for sessions that asked; a clip short
enough for `whisper_window`'s shortened window is encoded on that window (a 2.4 s question:
~0.04 s instead of ~0.3 s on the full 30 s window, with the same ranking of tokens).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from realtime2.backends.local.whisper_window import (
    MAX_CLIP_S,
    TRAILING_SILENCE_S,
    window_frames,
)
from realtime2.engine.interfaces import FloatAudio, TokenLogprob

FULL_WINDOW_FRAMES = 3000  # whisper's 30 s encoder window


def token_logprobs(
    model: Any, samples: FloatAudio, text: str, language: str
) -> tuple[TokenLogprob, ...]:
    """`model` is a faster_whisper.WhisperModel; `text` the transcript to score."""
    from faster_whisper.tokenizer import Tokenizer

    stripped = text.strip()
    if not stripped:
        return ()
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    tokens: list[int] = tokenizer.encode(" " + stripped)
    rate = model.feature_extractor.sampling_rate
    seconds = samples.size / rate
    if seconds <= MAX_CLIP_S:  # the short window, with its trailing silence
        window = window_frames(seconds)
        features = model.feature_extractor(samples, padding=int(TRAILING_SILENCE_S * rate))
    else:
        window = FULL_WINDOW_FRAMES
        features = model.feature_extractor(samples)
    frames = min(features.shape[-1], window, math.ceil(seconds * 100))  # 10 ms mel hop
    features = features[:, :window]
    if features.shape[-1] < window:
        features = np.pad(features, ((0, 0), (0, window - features.shape[-1])))
    encoded = model.encode(features)
    result = model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames)[0]
    probs = list(result.text_token_probs)[: len(tokens)]
    out: list[TokenLogprob] = []
    for token, p in zip(tokens, probs, strict=False):
        piece = tokenizer.decode([token])
        logprob = math.log(max(float(p), 1e-12))  # finite even for a vanishing probability
        out.append(TokenLogprob(piece, logprob, tuple(piece.encode())))
    return tuple(out)
