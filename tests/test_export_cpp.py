"""The C++ caller (deploy/cpp) of `caloforge export --format aoti` packages: built with
`make cpp` against the wheel's LibTorch, it must give the Python torch back-end's showers for the
same noise (<= 1e-5 of the largest cell) for every exportable family, at batch 1 and batched,
and read the same metadata. Compiling one package took one to three minutes on a loaded two-core
machine (the module, with `make cpp`, 7.5 minutes): the compiling tests are marked slow, and to
keep the suite inside CI's time the parity test compiles one family (wgan-gp) unless
``CALOFORGE_CPP_ALL_FAMILIES=1`` asks for every family in the registry."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from caloforge.cli import app
from caloforge.export.aoti import AOTI_FORMAT, FLAT_KEYS, export_aoti
from caloforge.export.metadata import build_metadata
from caloforge.generation import TorchBackend, sample
from caloforge.geometry import get_geometry
from caloforge.models import (
    FAMILIES,
    ConditionEncoding,
    Preprocessing,
    family_names,
    load_model,
    save_model,
)

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "deploy" / "cpp" / "build" / "caloforge-cpp-generate"
COMPILER = os.environ.get("CXX", "g++")
MISSING = [tool for tool in ("cmake", "make", COMPILER) if shutil.which(tool) is None]
needs_toolchain = pytest.mark.skipif(
    bool(MISSING),
    reason=f"the C++ caller needs {', '.join(MISSING)} on PATH (a C++ compiler, cmake and make)",
)
PackageMaker = Callable[[str], tuple[Path, Path]]
#: families whose compiled package the parity test checks (every family: a few minutes each)
PARITY_FAMILIES = (
    family_names() if os.environ.get("CALOFORGE_CPP_ALL_FAMILIES") == "1" else ["wgan-gp"]
)


def _artifact(folder: Path, family: str) -> Path:
    """A small untrained generator with fixed seeds, weights perturbed so every cell is lit."""
    g = get_geometry("atlas-em-barrel")
    fam = FAMILIES[family]
    hp = fam.Config()
    torch.manual_seed(0)
    gen = fam.build_generator(
        g, ConditionEncoding(1e3, 1e5, g.alignment_configs), Preprocessing(), hp
    )
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return save_model(folder / family, gen, family=family, hparams=hp, particle="photon", seed=0)


@pytest.fixture(scope="module")
def driver() -> Path:
    """`make cpp` with this interpreter's torch (no venv stamp): builds or reuses the build.
    An exclusive lock on a file beside the build keeps two pytest-xdist workers from running
    cmake in the same build folder at once (the second reuses the first one's build)."""
    bin_dir = Path(sys.executable).parent
    lock_path = REPO / "deploy" / "cpp" / ".build.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = subprocess.run(
            ["make", "-C", str(REPO), "cpp", "STAMP=", f"BIN={bin_dir}"],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    assert res.returncode == 0, f"make cpp failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    assert DRIVER.is_file()
    return DRIVER


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> PackageMaker:
    """family -> (model folder, .pt2 from `caloforge export --format aoti`), each compiled once
    per module."""
    folder = tmp_path_factory.mktemp("aoti")
    made: dict[str, tuple[Path, Path]] = {}

    def make(family: str) -> tuple[Path, Path]:
        if family not in made:
            model_dir = _artifact(folder, family)
            if not load_model(model_dir).generator.exportable:
                pytest.skip(f"family {family!r} declares itself not exportable")
            out = folder / f"{family}.pt2"
            res = CliRunner().invoke(
                app, ["export", "-m", str(model_dir), "--format", "aoti", "--out", str(out)]
            )
            assert res.exit_code == 0, res.output
            assert "parity on 256 showers: max |aoti - torch|" in res.output
            made[family] = (model_dir, out)
        return made[family]

    return make


def _inputs(folder: Path, noise_dim: int, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    config = rng.integers(0, 8, n)
    noise = torch.randn(n, noise_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    np.save(folder / "e.npy", energy)
    np.save(folder / "c.npy", config)
    np.save(folder / "z.npy", noise)
    return energy, config, noise


def _run(driver: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(driver), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.slow
@needs_toolchain
@pytest.mark.parametrize("family", PARITY_FAMILIES)
def test_cpp_matches_python_torch_backend(
    tmp_path: Path, driver: Path, package: PackageMaker, family: str
) -> None:
    model_dir, pt2 = package(family)
    art = load_model(model_dir)
    energy, config, noise = _inputs(tmp_path, art.generator.noise_dim, 37, seed=3)
    ref = sample(TorchBackend(art.generator), energy, config, noise)
    scale = np.abs(ref).max()
    assert scale > 0
    # batch 10 (four forward passes, the last of 7) and batch 1 (the dynamic axis at its minimum)
    for batch in ("10", "1"):
        res = _run(
            driver,
            "--model", pt2,
            "--energies-npy", tmp_path / "e.npy",
            "--configs-npy", tmp_path / "c.npy",
            "--noise", tmp_path / "z.npy",
            "--batch", batch,
            "--out", tmp_path / "cells.npy",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        cells = np.load(tmp_path / "cells.npy")
        assert cells.dtype == np.float32
        assert cells.shape == ref.shape
        assert np.abs(cells - ref).max() <= 1e-5 * scale, f"batch {batch}"


@pytest.mark.slow
@needs_toolchain
def test_cpp_reads_the_metadata_python_wrote(driver: Path, package: PackageMaker) -> None:
    model_dir, pt2 = package("wgan-gp")
    side = json.loads(pt2.with_name(pt2.name + ".json").read_text())
    onnx_meta = build_metadata(load_model(model_dir))
    # the ONNX export's metadata, key for key, under this format's name
    assert side["caloforge_format"] == AOTI_FORMAT
    assert {k: side[k] for k in onnx_meta if k != "caloforge_format"} == {
        k: v for k, v in onnx_meta.items() if k != "caloforge_format"
    }
    assert side["parity"]["checked"] is True
    assert side["parity"]["max_abs_diff_mev"] <= 1e-5 * side["parity"]["max_abs_cells_mev"]
    res = _run(driver, "--model", pt2, "--info")
    assert res.returncode == 0, res.stderr
    seen = dict(line.split(" = ", 1) for line in res.stdout.splitlines())
    assert {k: seen[k] for k in FLAT_KEYS} == side["package"]["flat_keys"]
    assert float(seen["cpp.centre"]) == side["inputs"]["conditions"]["centre"]
    assert int(seen["cpp.n_configs"]) == 8
    assert int(seen["cpp.noise_dim"]) == 64
    assert seen["family"] == "wgan-gp"


@pytest.mark.slow
@needs_toolchain
def test_cpp_own_rng_is_seeded_normal_noise(
    tmp_path: Path, driver: Path, package: PackageMaker
) -> None:
    model_dir, pt2 = package("wgan-gp")
    art = load_model(model_dir)

    def run(seed: int, tag: str) -> tuple[np.ndarray, np.ndarray]:
        res = _run(
            driver,
            "--model", pt2,
            "--energies", "2000,50000", "--n", "500", "--config", "3",
            "--seed", str(seed), "--batch", "300",
            "--noise-out", tmp_path / f"z{tag}.npy",
            "--out", tmp_path / f"o{tag}.npy",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        return np.load(tmp_path / f"z{tag}.npy"), np.load(tmp_path / f"o{tag}.npy")

    z1, o1 = run(11, "a")
    z2, o2 = run(11, "b")
    z3, _ = run(12, "c")
    assert np.array_equal(z1, z2)
    assert np.array_equal(o1, o2)
    assert not np.allclose(z1, z3)
    # 64 000 draws: mean and variance of a standard normal within 5 standard errors
    assert z1.shape == (1000, 64)
    assert abs(z1.mean()) < 5 / np.sqrt(z1.size)
    assert abs(z1.var() - 1) < 5 * np.sqrt(2 / z1.size)
    # the showers are the torch back-end's on the saved noise
    energy = np.repeat([2000.0, 50000.0], 500)
    ref = sample(TorchBackend(art.generator), energy, np.full(1000, 3), z1)
    assert np.abs(o1 - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.slow
@needs_toolchain
def test_cpp_errors_name_the_problem(tmp_path: Path, driver: Path, package: PackageMaker) -> None:
    _, pt2 = package("wgan-gp")
    bad_config = _run(
        driver, "--model", pt2, "--energies", "5000", "--config", "8", "--out", tmp_path / "x.npy"
    )
    assert bad_config.returncode == 2
    assert "config must be in 0..7" in bad_config.stderr
    np.save(tmp_path / "z.npy", np.zeros((2, 63), dtype=np.float32))
    bad_noise = _run(
        driver, "--model", pt2, "--energies", "5000", "--n", "2",
        "--noise", tmp_path / "z.npy", "--out", tmp_path / "x.npy",
    )  # fmt: skip
    assert bad_noise.returncode == 2
    assert "noise must have shape (2, 64)" in bad_noise.stderr
    bad_energy = _run(driver, "--model", pt2, "--energies", "-5", "--out", tmp_path / "x.npy")
    assert bad_energy.returncode == 2
    assert "positive and finite" in bad_energy.stderr
    missing = _run(
        driver, "--model", tmp_path / "none.pt2", "--energies", "5000", "--out", tmp_path / "x.npy"
    )
    assert missing.returncode == 2
    assert "none.pt2: cannot open the model package" in missing.stderr
    (tmp_path / "junk.pt2").write_bytes(b"not a zip archive")
    junk = _run(
        driver, "--model", tmp_path / "junk.pt2", "--energies", "5000", "--out", tmp_path / "x.npy"
    )
    assert junk.returncode == 2
    assert "junk.pt2: not a readable AOTInductor package" in junk.stderr
    assert not (tmp_path / "x.npy").exists()


def test_export_aoti_refuses_a_wrong_suffix(tmp_path: Path) -> None:
    model_dir = _artifact(tmp_path, "wgan-gp")
    with pytest.raises(ValueError, match=r"must be named \*\.pt2"):
        export_aoti(model_dir, tmp_path / "m.onnx")


def test_cli_export_aoti_without_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No compiler: the one-line error naming it, exit 2, nothing written."""
    model_dir = _artifact(tmp_path, "wgan-gp")
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    res = CliRunner().invoke(
        app,
        ["export", "--model", str(model_dir), "--format", "aoti", "--out", str(tmp_path / "m.pt2")],
    )
    assert res.exit_code == 2
    assert "needs a C++ compiler" in res.output
    assert "no-such-compiler-here" in res.output
    assert not (tmp_path / "m.pt2").exists()
