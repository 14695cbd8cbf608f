"""`realtime2 doctor`: check what a replica needs, without starting it, and say what is wrong.

Each check gives one line: `ok`, `warn` (works, but not as intended for production) or
`FAIL` with the fix. The database (reachable, schema at the latest migration), Redis when
`REALTIME2_REDIS_URL` is set, the secret key, each engine role's backend (its packages
installed; models are loaded only by `serve`), the CPU's instruction sets and the llama.cpp
CPU variant `serve` would load (an AMX variant is only used after a probe at start-up, see
`backends.local.llama_cpu`). Exit status 1 when anything failed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from sqlalchemy import text

from realtime2.config import Settings
from realtime2.db.engine import Database
from realtime2.db.migrate import _alembic_config

Level = Literal["ok", "warn", "FAIL"]
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "amx_tile")


@dataclass(frozen=True)
class Finding:
    level: Level
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.what:<10} {self.detail}"


def _sqlite_file_exists(path: str | None) -> bool:
    return not path or path == ":memory:" or Path(path).exists()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


async def check_database(settings: Settings) -> Finding:
    db = Database(settings.effective_database_url())
    backend = db.url.get_backend_name()
    if db.is_sqlite and not _sqlite_file_exists(db.url.database):
        await db.dispose()  # connecting would create the file: doctor writes nothing
        return Finding(
            "warn",
            "database",
            f"sqlite: no database at {db.url.database} yet; fix: `realtime2 migrate` "
            "(or serve, which creates it); several replicas need PostgreSQL",
        )
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            try:
                current = await conn.execute(text("SELECT version_num FROM alembic_version"))
                revision = current.scalar()
            except Exception:
                revision = None
    except Exception as exc:
        return Finding(
            "FAIL",
            "database",
            f"{backend}: cannot connect ({_first_line(exc)}); "
            "fix: check REALTIME2_DATABASE_URL and that the server is running",
        )
    finally:
        await db.dispose()
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if revision != head:
        return Finding(
            "warn",
            "database",
            f"{backend}: schema at {revision or 'nothing'}, latest is {head}; "
            "fix: `realtime2 migrate` (serve also upgrades on start)",
        )
    return Finding("ok", "database", f"{backend}, schema at the latest migration ({head})")


async def check_redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding(
            "ok",
            "redis",
            "not configured: rate limits and login backoff are counted per process "
            "(set REALTIME2_REDIS_URL when running several replicas)",
        )
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
    try:
        await client.ping()  # type: ignore[misc]
    except Exception as exc:
        return Finding(
            "FAIL",
            "redis",
            f"no answer at REALTIME2_REDIS_URL ({type(exc).__name__}); replicas would fall "
            "back to per-process limits; fix: start Redis or correct the URL",
        )
    finally:
        await client.aclose()
    return Finding("ok", "redis", "answers: limits are shared by every replica using it")


def check_secret(settings: Settings) -> Finding:
    if settings.secret_key:
        return Finding("ok", "secret", "REALTIME2_SECRET_KEY is set (share it across replicas)")
    kept = settings.data_dir / "secret_key"
    return Finding(
        "warn",
        "secret",
        f"REALTIME2_SECRET_KEY unset: this process uses {kept}; replicas must share one "
        "key (set the same REALTIME2_SECRET_KEY on each)",
    )


def check_engines(settings: Settings) -> list[Finding]:
    if not settings.load_engines:
        return [Finding("ok", "engines", "REALTIME2_LOAD_ENGINES=false: no engines loaded")]
    from realtime2.engine.catalog import ROLES
    from realtime2.engine.config import EngineSettings
    from realtime2.engine.registry import describe

    try:
        engine_settings = EngineSettings()
    except Exception as exc:
        return [Finding("FAIL", "engines", f"invalid engine settings: {str(exc)[:200]}")]
    findings = []
    for role in ROLES:
        try:
            engine_settings.backend(role).check_installed()
            findings.append(Finding("ok", role, describe(role, engine_settings)))
        except Exception as exc:
            findings.append(Finding("FAIL", role, str(exc)[:300]))
    return findings


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    return set()


def check_cpu() -> list[Finding]:
    flags = cpu_flags()
    have = [f for f in CPU_FLAGS if f in flags]
    findings = [
        Finding(
            "ok" if "avx2" in flags else "warn",
            "cpu",
            ("instruction sets: " + ", ".join(have)) if have else "flags not readable",
        )
    ]
    try:
        from realtime2.backends.local.llama_cpu import (
            AMX_VARIANTS,
            VARIANT_ENV,
            library_dir,
            variant_score,
            variants_in,
        )

        variants = variants_in(library_dir())
    except Exception as exc:
        findings.append(Finding("FAIL", "llama cpu", f"llama-cpp-python: {str(exc)[:200]}"))
        return findings
    if not variants:
        findings.append(
            Finding("ok", "llama cpu", "CPU backend built in (no loadable variants to choose)")
        )
        return findings
    scores = {name: variant_score(path) for name, path in variants.items()}
    usable = sorted((s, n) for n, s in scores.items() if s > 0 and n not in AMX_VARIANTS)
    amx = [n for n in AMX_VARIANTS if scores.get(n, 0) > 0]
    if not usable and not amx:
        findings.append(
            Finding(
                "FAIL",
                "llama cpu",
                f"no variant supports this CPU ({sorted(scores)}); fix: `make install` "
                f"or set {VARIANT_ENV}",
            )
        )
        return findings
    chosen = usable[-1][1] if usable else "none without AMX"
    note = f"; AMX variant {amx[0]} is probed at start-up" if amx else ""
    findings.append(Finding("ok", "llama cpu", f"variant {chosen} (of {len(scores)}){note}"))
    return findings


async def run(settings: Settings) -> list[Finding]:
    findings = [await check_database(settings), await check_redis(settings)]
    findings.append(check_secret(settings))
    findings.extend(check_engines(settings))
    findings.extend(check_cpu())
    return findings
