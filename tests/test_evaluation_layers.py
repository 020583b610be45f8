"""The evaluation package is layered and the command line starts light: checked in fresh
interpreters (``sys.modules``) and on the import graph of the source."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import caloforge.evaluation

EVALUATION = Path(caloforge.evaluation.__file__).parent
CALOCHALLENGE_LEAF = ("datasets", "binning", "features", "distances", "published")
HEAVY = ("torch", "sklearn", "matplotlib", "mplhep", "numba", "h5py", "dask", "optuna", "numpy")


def _loaded_after(code: str) -> set[str]:
    """Top-level packages of HEAVY that a fresh interpreter has loaded after running ``code``."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    [
        "caloforge.evaluation.metrics",
        "caloforge.evaluation.observables",
        "caloforge.evaluation.response",
        "caloforge.evaluation.flagging",
        "caloforge.evaluation.inputs",
        "caloforge.evaluation.grid",
        *(f"caloforge.evaluation.calochallenge.{m}" for m in CALOCHALLENGE_LEAF),
    ],
)
def test_leaf_modules_load_no_torch_sklearn_or_matplotlib(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not loaded & {"torch", "sklearn", "matplotlib", "mplhep"}, loaded


def test_the_top_layer_does_load_its_dependencies() -> None:
    # the probe itself can fail: the comparison needs the classifier and the report
    assert {"torch", "sklearn", "matplotlib"} <= _loaded_after(
        "import caloforge.evaluation.comparison"
    )


def test_import_caloforge_loads_nothing_heavy_until_a_name_is_used() -> None:
    assert _loaded_after("import caloforge, caloforge.evaluation") == set()
    assert "h5py" in _loaded_after("import caloforge; caloforge.read_showers")


def test_cli_help_loads_no_heavy_dependency() -> None:
    code = (
        "from caloforge.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0\n"
    )
    assert _loaded_after(code) == set()


def test_lazy_names_resolve_to_their_modules() -> None:
    import caloforge
    from caloforge.evaluation import metrics

    for name in caloforge.evaluation.__all__:
        assert getattr(caloforge.evaluation, name) is not None
    assert set(caloforge.evaluation.__all__) == set(caloforge.evaluation._WHERE)
    assert caloforge.evaluation.fpd is metrics.fpd
    assert set(caloforge.__all__) == {"__version__", *caloforge._WHERE}
    assert caloforge.get_geometry("calogan").n_cells == 504
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = caloforge.evaluation.nope


def _evaluation_imports() -> dict[str, set[str]]:
    """Module-level imports of each evaluation module among its siblings (function-level
    imports included: a cycle through one is still a cycle)."""
    graph: dict[str, set[str]] = {}
    for path in EVALUATION.glob("*.py"):
        if path.stem == "__init__":
            continue
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["caloforge", "evaluation"] and len(parts) > 2:
                    deps.add(parts[2])
        graph[path.stem] = deps
    return graph


def test_evaluation_modules_import_each_other_without_a_cycle() -> None:
    graph = _evaluation_imports()
    assert "comparison" in graph["report"] or "report" in graph["comparison"]  # walk found them
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for dep in graph.get(node, ()):
            visit(dep, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_leaf_modules_import_only_the_leaf() -> None:
    leaf = {"metrics", "observables", "response", "flagging", "inputs", "grid"}
    graph = _evaluation_imports()
    for module in leaf:
        assert graph[module] <= leaf, (module, graph[module] - leaf)


def test_calochallenge_leaf_imports_only_the_leaf() -> None:
    """The protocol's leaf modules import, among the evaluation modules, only leaf modules."""
    leaf = {"metrics", "observables", "response", "flagging", "inputs"}
    folder = EVALUATION / "calochallenge"
    for module in CALOCHALLENGE_LEAF:
        deps = set()
        for node in ast.walk(ast.parse((folder / f"{module}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["caloforge", "evaluation"] and len(parts) > 2:
                    deps.add(".".join(parts[2:]))
        allowed = leaf | {f"calochallenge.{m}" for m in CALOCHALLENGE_LEAF}
        assert deps <= allowed, (module, deps - allowed)
    # the walk finds imports: distances uses the leaf's Fréchet distance
    assert "metrics" in {
        n.module.split(".")[-1]
        for n in ast.walk(ast.parse((folder / "distances.py").read_text()))
        if isinstance(n, ast.ImportFrom) and n.module
    }
