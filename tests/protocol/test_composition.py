"""The session's parts never point back at it (DESIGN.md, "Compose state, never point back").

Read from the source, `TYPE_CHECKING` imports included: only the package's public entry
(`protocol/__init__.py`) imports `protocol.session`, and the modules of `protocol/` import
each other without a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import realtime2.protocol

PACKAGE = "realtime2.protocol"
ROOT = Path(realtime2.protocol.__file__).parent
MODULES = {p.stem: p for p in ROOT.glob("*.py")}


def _imports(path: Path) -> set[str]:
    """Modules of `protocol/` that `path` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == PACKAGE:  # from realtime2.protocol import audio_formats
                names += [f"{PACKAGE}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.startswith(PACKAGE + "."):
                stem = name.removeprefix(PACKAGE + ".").split(".")[0]
                if stem in MODULES:
                    found.add(stem)
    return found


GRAPH = {stem: _imports(path) for stem, path in MODULES.items()}


def test_only_the_public_entry_imports_the_session() -> None:
    importers = {stem for stem, deps in GRAPH.items() if "session" in deps}
    assert importers <= {"__init__"}, f"parts import the session: {sorted(importers)}"


def test_protocol_modules_import_each_other_without_a_circle() -> None:
    done: set[str] = set()

    def visit(stem: str, path: tuple[str, ...]) -> None:
        assert stem not in path, "import circle: " + " -> ".join((*path, stem))
        if stem in done:
            return
        for dep in sorted(GRAPH[stem]):
            visit(dep, (*path, stem))
        done.add(stem)

    for stem in sorted(set(GRAPH) - {"__init__"}):
        visit(stem, ())
