"""Every third-party package imported in src/ is declared in pyproject.toml, and every declared
runtime dependency is imported somewhere (so a replaced one is also removed)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
#: import name -> distribution name, where they differ
DISTRIBUTION = {"sklearn": "scikit-learn", "distributed": "dask"}
#: extras holding tools for developing caloforge, not imported by it
TOOL_EXTRAS = {"test", "all"}


def _imported_distributions() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "caloforge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    third_party = names - set(sys.stdlib_module_names) - {"caloforge", "__future__"}
    return {DISTRIBUTION.get(n, n).lower() for n in third_party}


def _declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[^A-Za-z0-9_.-]", r, maxsplit=1)[0].lower() for r in requirements}

    extras = project["optional-dependencies"]
    runtime = names(project["dependencies"])
    runtime |= {n for key, reqs in extras.items() if key not in TOOL_EXTRAS for n in names(reqs)}
    return runtime, names(extras["test"])


def test_every_imported_package_is_declared() -> None:
    imported = _imported_distributions()
    runtime, _ = _declared()
    assert {"numpy", "torch", "scikit-learn", "dask"} <= imported  # the scan found imports
    assert imported - runtime == set(), "imported in src/ but not declared in pyproject.toml"


def test_every_declared_runtime_dependency_is_imported() -> None:
    runtime, tools = _declared()
    assert {"pytest", "ruff", "mypy"} <= tools
    assert runtime - _imported_distributions() == set(), "declared but never imported in src/"
