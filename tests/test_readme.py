"""Every command in the README runs as written: its ``bash`` blocks in order in one empty folder,
then its ``python`` blocks in the same folder. (``make`` lines are the set-up commands this very
suite runs under; they are the only ones left out.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def _blocks(kind: str) -> list[str]:
    return [body for k, body in BLOCK.findall(README.read_text()) if k == kind]


def test_readme_blocks_are_found() -> None:
    bash = _blocks("bash")
    assert any("caloforge simulate" in b for b in bash)
    assert any("caloforge train" in b for b in bash)
    assert len(_blocks("python")) >= 2


def test_every_readme_command_runs(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "1")
    for i, block in enumerate(_blocks("bash")):
        lines = [ln for ln in block.splitlines() if not ln.lstrip().startswith("make ")]
        script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
        res = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        assert res.returncode == 0, f"README bash block {i} failed:\n{res.stdout}\n{res.stderr}"
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
            [sys.executable, "-c", block],
            cwd=tmp_path,
            env=env,
            text=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        assert res.returncode == 0, f"README python block {i} failed:\n{res.stdout}\n{res.stderr}"
