"""Joining a model shipped as chunks in several packages: order, sha256 check, atomic cache."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime2.backends.local.gguf_chunks import ChunkedFile, Part, assemble
from realtime2.backends.local.models import ModelSetupError

CHUNKS = [b"GGUF" + bytes(range(256)) * 3, b"second chunk " * 50, b"tail"]
WHOLE = b"".join(CHUNKS)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path holding three fake chunk packages."""
    root = tmp_path / "site"
    for index, chunk in enumerate(CHUNKS, start=1):
        package = root / f"fake_chunks_part{index}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{index:02d}.bin").write_bytes(chunk)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    yield root
    sys.path.remove(str(root))
    for index in range(1, len(CHUNKS) + 1):
        sys.modules.pop(f"fake_chunks_part{index}", None)
    importlib.invalidate_caches()


def spec(sha256: str = hashlib.sha256(WHOLE).hexdigest(), size: int = len(WHOLE)) -> ChunkedFile:
    return ChunkedFile(
        name="model.gguf",
        sha256=sha256,
        size=size,
        parts=tuple(
            Part(f"fake_chunks_part{i}", f"data/part{i:02d}.bin") for i in range(1, len(CHUNKS) + 1)
        ),
        install="'fake-chunks-part1==1' 'fake-chunks-part2==1' 'fake-chunks-part3==1'",
    )


def test_parts_are_joined_in_order_into_the_cache(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble(spec(), cache)
    assert path == cache / "model.gguf"
    assert path.read_bytes() == WHOLE
    assert sorted(p.name for p in cache.iterdir()) == ["model.gguf", "model.gguf.verified"]


def test_a_verified_file_is_reused_without_reading_the_parts(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = assemble(spec(), cache)
    for part in site.glob("*/data/*.bin"):
        part.unlink()  # had it read the parts again, this would fail
    assert assemble(spec(), cache) == first
    assert first.read_bytes() == WHOLE


def test_a_wrong_sha256_is_refused_and_leaves_nothing(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ModelSetupError, match=r"sha256 .* expected 0{64}.*--force-reinstall"):
        assemble(spec(sha256="0" * 64), cache)
    assert list(cache.iterdir()) == []  # no half-written or unverified model left behind


def test_an_altered_chunk_is_refused(site: Path, tmp_path: Path) -> None:
    part = site / "fake_chunks_part2" / "data" / "part02.bin"
    part.write_bytes(part.read_bytes().replace(b"second", b"SECOND"))  # same size
    with pytest.raises(ModelSetupError, match="refusing to load it"):
        assemble(spec(), tmp_path / "cache")


def test_a_truncated_chunk_is_refused_before_copying(site: Path, tmp_path: Path) -> None:
    (site / "fake_chunks_part3" / "data" / "part03.bin").write_bytes(b"ta")
    with pytest.raises(ModelSetupError, match=f"add up to {len(WHOLE) - 2} bytes"):
        assemble(spec(), tmp_path / "cache")


def test_a_missing_part_package_names_the_install(site: Path, tmp_path: Path) -> None:
    for path in (site / "fake_chunks_part2").rglob("*"):
        if path.is_file():
            path.unlink()
    (site / "fake_chunks_part2" / "data").rmdir()
    (site / "fake_chunks_part2").rmdir()
    importlib.invalidate_caches()
    with pytest.raises(ModelSetupError, match=r"fake_chunks_part2 is not installed.*fake-chunks"):
        assemble(spec(), tmp_path / "cache")


def test_a_changed_cached_file_is_assembled_again(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble(spec(), cache)
    path.write_bytes(b"corrupted")
    assert assemble(spec(), cache).read_bytes() == WHOLE


def test_a_same_size_edit_is_caught_by_its_mtime(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = assemble(spec(), cache)
    stat = path.stat()
    path.write_bytes(b"X" + WHOLE[1:])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert assemble(spec(), cache).read_bytes() == WHOLE


def test_a_good_file_placed_by_hand_is_verified_and_kept(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "model.gguf").write_bytes(WHOLE)
    for part in site.glob("*/data/*.bin"):
        part.unlink()
    assert assemble(spec(), cache).read_bytes() == WHOLE
    assert (cache / "model.gguf.verified").exists()


def test_an_unusable_cache_dir_is_one_line_naming_it(site: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ModelSetupError, match=r"cannot create the model cache .*a-file/cache"):
        assemble(spec(), blocker / "cache")
