"""Decode uploads off the event loop, a few at a time.

Decoding is CPU work of up to a second or two (see `decode.py`'s limits); on the event loop
it would stall every live session of the process. A dedicated thread pool bounds both:
the loop only awaits, and at most `workers` decodes run at once (each holds at most one
output buffer), the rest wait their turn holding only the bytes they were sent. PyAV and
soxr release the GIL while they work, so the loop keeps its core.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from realtime2.audio.decode import DecodeLimits, decode_audio
from realtime2.audio.types import FloatAudio

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="audio-decode")
            _pools[workers] = pool
        return pool


async def decode_off_loop(
    data: bytes,
    sample_rate: int,
    *,
    max_seconds: float,
    limits: DecodeLimits,
    workers: int,
) -> tuple[FloatAudio, float]:
    """`decode_audio` on the decode pool. If the caller is cancelled (the client went
    away), the decode is told to stop at its next frame instead of running to the end."""
    stop = threading.Event()
    job = partial(
        decode_audio, data, sample_rate, max_seconds=max_seconds, limits=limits, stop=stop
    )
    future = asyncio.get_running_loop().run_in_executor(_pool(workers), job)
    try:
        return await future
    except asyncio.CancelledError:
        stop.set()
        raise
