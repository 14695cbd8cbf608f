"""The layer order of docs/architecture.md, enforced: the import-linter contracts in
pyproject.toml (`[tool.importlinter]`) must hold, and every top-level part of the package
must have a place in the layers, so a new package cannot slip in unchecked."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import realtime2

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(realtime2.__file__).parent
NOT_PYTHON = {"web"}  # templates and static files only


def _config() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as f:
        config: dict = tomllib.load(f)["tool"]["importlinter"]
    return config


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_top_level_part_has_a_layer() -> None:
    (layers,) = [c for c in _config()["contracts"] if c["type"] == "layers"]
    placed = {
        name.strip().removeprefix("realtime2.")
        for layer in layers["layers"]
        for name in layer.replace(":", "|").split("|")
    }
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert parts - NOT_PYTHON <= placed, f"not in any layer: {sorted(parts - placed)}"
