"""Per-token log-probabilities of a whisper transcript (`include: [...logprobs]`).

The transcript's tokens are scored teacher-forced against the clip's encoding with
CTranslate2's `align` (the call faster-whisper's word timestamps use), which gives the
model's probability of each text token given the audio and the tokens before it: one
log-probability per token of the text the client receives, whichever decoding path
produced it. Costs one extra encoder pass, only for sessions that asked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
    features = model.feature_extractor(samples)
    frames = min(features.shape[-1], FULL_WINDOW_FRAMES)
    features = features[:, :FULL_WINDOW_FRAMES]
    if features.shape[-1] < FULL_WINDOW_FRAMES:
        features = np.pad(features, ((0, 0), (0, FULL_WINDOW_FRAMES - features.shape[-1])))
    encoded = model.encode(features)
    result = model.model.align(encoded, tokenizer.sot_sequence, [tokens], frames)[0]
    probs = list(result.text_token_probs)[: len(tokens)]
    out: list[TokenLogprob] = []
    for token, p in zip(tokens, probs, strict=False):
        piece = tokenizer.decode([token])
        logprob = math.log(max(float(p), 1e-12))  # finite even for a vanishing probability
        out.append(TokenLogprob(piece, logprob, tuple(piece.encode())))
    return tuple(out)
