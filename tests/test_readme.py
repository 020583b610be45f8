"""Every command in the README runs as written, as a user's shell would run it: its ``bash``
blocks in order in one shell session (so the set-up block's ``source .venv/bin/activate`` puts
``caloforge`` on the PATH for the blocks after it), in an empty folder, then its ``python``
blocks in the same folder. The PATH is the caller's, with no virtual environment added: the
folder's ``.venv`` links to the environment running this suite, standing in for the one
``make venv`` creates (``make`` lines are the set-up this very suite runs under; they are the
only ones left out)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
VENV = Path(sys.prefix)


def _blocks(kind: str) -> list[str]:
    return [body for k, body in BLOCK.findall(README.read_text()) if k == kind]


def _user_env() -> dict[str, str]:
    """The caller's environment without any virtual environment on the PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    parts = env.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(p for p in parts if p and Path(p).parent != VENV)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def test_readme_blocks_are_found() -> None:
    bash = _blocks("bash")
    assert "source .venv/bin/activate" in bash[0]
    assert any("caloforge simulate" in b for b in bash)
    assert any("caloforge train" in b for b in bash)
    assert len(_blocks("python")) >= 2


def test_user_env_has_no_caloforge_on_the_path(tmp_path: Path) -> None:
    res = subprocess.run(
        ["bash", "-c", "command -v caloforge || echo none"],
        cwd=tmp_path,
        env=_user_env(),
        text=True,
        capture_output=True,
        check=False,
    )
    assert res.stdout.strip() == "none", res.stdout


def test_every_readme_command_runs(tmp_path: Path) -> None:
    assert (VENV / "bin" / "activate").is_file(), VENV
    (tmp_path / ".venv").symlink_to(VENV, target_is_directory=True)
    env = _user_env()
    lines = [
        ln
        for block in _blocks("bash")
        for ln in block.splitlines()
        if not ln.lstrip().startswith("make ")
    ]
    script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
    res = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        text=True,
        capture_output=True,
        timeout=1800,
        check=False,
    )
    assert res.returncode == 0, f"README bash blocks failed:\n{res.stdout}\n{res.stderr}"
    assert re.search(r"^caloforge \d+\.\d+", res.stdout, re.M), res.stdout[:500]
    for name in (
        "train.h5",
        "reference.h5",
        "generated.h5",
        "model/model.json",
        "report/report.html",
        "report/metrics.json",
        "model.onnx",
        "bench/bench.md",
    ):
        assert (tmp_path / name).is_file(), name
    for i, block in enumerate(_blocks("python")):
        res = subprocess.run(
            ["bash", "-c", 'source .venv/bin/activate && python -c "$0"', block],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        assert res.returncode == 0, f"README python block {i} failed:\n{res.stdout}\n{res.stderr}"
