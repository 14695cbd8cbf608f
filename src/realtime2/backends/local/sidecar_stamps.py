"""A JSON stamp beside a file in the model cache: what the file was made from.

The cache holds files that are expensive to make (a GGUF joined from chunks and hashed, one
re-quantized from it). A stamp `<file><suffix>` records what a file was made from, so a later
start trusts an unchanged file without redoing the work. It is written under a temporary name
and renamed into place, so a crash never leaves half a stamp.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_stamp(target: Path, suffix: str) -> object | None:
    """The record stamped beside `target`, or None when there is none or it is unreadable."""
    try:
        record: object = json.loads(target.with_name(target.name + suffix).read_text())
    except (OSError, ValueError):
        return None
    return record


def write_stamp(target: Path, suffix: str, record: dict[str, object]) -> None:
    stamp = target.with_name(target.name + suffix)
    temporary = stamp.with_name(f".{stamp.name}.{os.getpid()}")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, stamp)
