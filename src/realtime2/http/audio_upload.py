"""Uploaded audio → samples, for endpoints that bill by the second of it.

Called inside `metered_request`, after the hold is placed: a client without credit never
gets this far. The decode runs on the decode pool under the configured limits, and stops
at the seconds the client can pay for, so even a funded client can make the server decode
only as much audio as it will be charged for.
"""

from __future__ import annotations

from realtime2.audio.decode import AudioDecodeError, AudioTooLongError, DecodeLimits
from realtime2.audio.decode_pool import decode_off_loop
from realtime2.config import Settings
from realtime2.engine.interfaces import FloatAudio
from realtime2.errors import ApiError
from realtime2.http.billing import Bill


def decode_limits(settings: Settings) -> DecodeLimits:
    return DecodeLimits(
        max_seconds=settings.audio_max_seconds,
        max_sample_rate=settings.audio_max_sample_rate,
        max_channels=settings.audio_max_channels,
    )


async def decode_paid_audio(
    settings: Settings,
    bill: Bill,
    data: bytes,
    sample_rate: int,
    *,
    param: str,
    other_seconds: float = 0.0,
) -> tuple[FloatAudio, float]:
    """Decode `data` to mono at `sample_rate` and grow the hold to cover it (plus
    `other_seconds` of work the request will add). A 400 for audio we refuse, a 402 for
    audio longer than the user's credit covers."""
    limits = decode_limits(settings)
    paid = max(0.0, await bill.affordable_seconds() - other_seconds)
    try:
        audio, seconds = await decode_off_loop(
            data,
            sample_rate,
            max_seconds=min(paid, limits.max_seconds),
            limits=limits,
            workers=settings.audio_decodes_at_once,
        )
    except AudioTooLongError as exc:
        if exc.max_seconds < limits.max_seconds:
            raise ApiError(
                402,
                "insufficient_credits",
                f"The audio is longer than the {exc.max_seconds:g} seconds your credit covers.",
            ) from None
        raise ApiError(400, "invalid_audio", str(exc), param=param) from None
    except AudioDecodeError as exc:
        raise ApiError(400, "invalid_audio", str(exc), param=param) from None
    await bill.reserve(seconds + other_seconds)
    return audio, seconds
