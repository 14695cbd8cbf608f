"""Backends by role and name: each registers itself with its own settings model.

A backend is one module under `realtime2.backends` that ends with a registration:

    register_backend(
        "tts", "espeak",
        settings=EspeakSettings,        # a pydantic-settings model with its own env vars
        build=build_espeak,             # (its settings, Shared engine settings) -> the TTS
        describe=lambda s: f"espeak-ng {s.voice}",  # for logs and /readyz (no secrets)
        requires={"espeakng_loader": "espeakng-loader"},  # import name -> pip requirement
        fix="reinstall with `make install` (espeakng-loader)",
    )

and one line naming that module in `realtime2.backends.MODULES`. Nothing else changes: the
operator picks it with `REALTIME2_TTS_BACKEND=espeak`, `EngineHost` loads and warms it like any
other, and a missing dependency is one line naming the package to install.

The registry sits in the engine layer and knows no backend; the backends import it (the
dependency points down). The built-in modules are imported by name the first time a lookup
needs them, the way a plug-in system finds its plug-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic_settings import BaseSettings

from realtime2.engine.interfaces import EngineUnavailableError

Role = Literal["vad", "turn", "stt", "llm", "tts"]
# The order EngineHost loads them in; "turn" is semantic_vad's end-of-turn model.
ROLES: tuple[Role, ...] = ("vad", "turn", "tts", "stt", "llm")

S = TypeVar("S", bound=BaseSettings)

BUILTIN_PACKAGE = "realtime2.backends"  # its `MODULES` lists the built-in backend modules


class Shared(Protocol):
    """What every backend's builder gets besides its own settings (`EngineSettings`)."""

    @property
    def threads(self) -> int: ...  # CPU threads per model


class UnknownBackendError(ValueError):
    """A configured backend name that nothing registered."""


class MissingDependencyError(EngineUnavailableError):
    """A backend's optional dependency is not installed; the message names the package."""


@dataclass(frozen=True)
class Backend(Generic[S]):
    """One registered backend: how to configure it, build it and talk about it."""

    role: Role
    name: str
    settings: type[S]  # its own settings model, read from the environment
    build: Callable[[S, Any], Any]  # (its settings, the `Shared` engine settings); blocks
    describe: Callable[[S], str]  # human-readable, for logs and status; no secrets
    local: bool = True  # runs in this process: one warm-up inference before ready
    fix: str = ""  # what to do when it fails, appended to its error line
    requires: Mapping[str, str] = field(default_factory=dict)  # import name -> pip requirement
    aliases: tuple[str, ...] = ()  # other names it answers to

    def check_installed(self) -> None:
        """Fail with one line naming the package to install if a dependency is missing."""
        for module, requirement in self.requires.items():
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(
                    f"{self.role} backend {self.name!r} needs {module}, which is not "
                    f"installed: pip install '{requirement}'"
                )

    def load_settings(self, values: Mapping[str, Any] | None = None) -> S:
        """Its settings: the environment, with `values` (given in code) taking precedence."""
        return self.settings(**dict(values or {}))


_REGISTRY: dict[tuple[Role, str], Backend[Any]] = {}
_broken: dict[str, str] = {}  # built-in module -> why it failed to import
_loaded = False


def register_backend(
    role: Role,
    name: str,
    *,
    settings: type[S],
    build: Callable[[S, Any], Any],
    describe: Callable[[S], str],
    local: bool = True,
    fix: str = "",
    requires: Mapping[str, str] | None = None,
    aliases: Iterable[str] = (),
) -> Backend[S]:
    """Register a backend under `name` (and `aliases`) for `role`; returns its record."""
    entry = Backend(
        role=role,
        name=name,
        settings=settings,
        build=build,
        describe=describe,
        local=local,
        fix=fix,
        requires=dict(requires or {}),
        aliases=tuple(aliases),
    )
    for key in (name, *entry.aliases):
        existing = _REGISTRY.get((role, key))
        if existing is not None and existing.name != name:
            raise ValueError(f"{role} backend name {key!r} is taken by {existing.name!r}")
        _REGISTRY[(role, key)] = entry
    return entry


def unregister_backend(role: Role, name: str) -> None:
    """Remove a backend and its aliases (tests that register fakes)."""
    entry = _REGISTRY.get((role, name))
    if entry is not None:
        for key in (entry.name, *entry.aliases):
            _REGISTRY.pop((role, key), None)


def load_builtin() -> None:
    """Import every built-in backend module once (each registers itself on import)."""
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(BUILTIN_PACKAGE)
    for module in package.MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:  # one broken backend must not take the others down
            _broken[module] = f"{type(exc).__name__}: {exc}"
    _loaded = True


def backend(role: Role, name: str) -> Backend[Any]:
    """The backend registered as `name` for `role`; `UnknownBackendError` names the choices."""
    load_builtin()
    entry = _REGISTRY.get((role, name))
    if entry is None:
        broken = "".join(f"; {module} failed to import ({why})" for module, why in _broken.items())
        raise UnknownBackendError(
            f"no {role} backend named {name!r}; registered: {', '.join(names(role))}{broken}"
        )
    return entry


def names(role: Role) -> list[str]:
    """Every name (aliases included) a backend for `role` answers to, sorted."""
    load_builtin()
    return sorted(key for r, key in _REGISTRY if r == role)
