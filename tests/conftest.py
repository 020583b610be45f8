"""Fixtures shared by the test modules, and the ``slow`` tier.

The synthetic showers the tests train and evaluate on live in :mod:`synthetic` (a plain module
beside this file: ``pythonpath = ["tests"]`` in pyproject.toml); no test module imports
another. Session-scoped fixtures hand out files that are written once and must not be changed
by a test: ask for the ``..._copy`` variant to edit one.

``slow``: a test that takes more than ~10 s on 2 cores (end-to-end runs, training, physics
samples). ``make test-fast`` (``pytest -m "not slow"``) leaves them out; ``make test`` runs all.
Both run on two pytest-xdist workers, one torch thread each, test by test (``--dist load``:
whole-file scheduling left one worker idle behind the README test). A module fixture is then
built once per worker that runs the module's tests. (``xdist_group`` does not group with
pytest 9.2 and pytest-xdist 3.8: the group suffix never reaches the scheduler.)
"""

from __future__ import annotations

import os

# Under pytest-xdist (``make test`` runs two workers) every worker and the processes it starts
# get one torch/BLAS thread each, so the two workers do not oversubscribe the two cores; a value
# the caller set wins. (Numba's pool keeps its default: the cascade tests ask it for 2 workers,
# and numba refuses a second pool size once its threads have started.)
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from caloforge.io import write_showers
from caloforge.showerset import ShowerSet

if TYPE_CHECKING:
    from typer.testing import Result

#: heavy tests in modules that other work owns, marked ``slow`` here by node id (their modules
#: may carry the marker themselves; then the entry can go)
SLOW_ELSEWHERE = ("test_readme.py::test_every_readme_command_runs",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("/")[-1].startswith(SLOW_ELSEWHERE):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread during the test (bit-reproducible sums, no oversubscription)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


ShowerFile = Callable[[Callable[[int, int], ShowerSet], int, int], Path]


@pytest.fixture(scope="session")
def shower_file(tmp_path_factory: pytest.TempPathFactory) -> ShowerFile:
    """``shower_file(maker, n, seed)``: the HDF5 file of ``maker(n, seed)`` (a generator of
    :mod:`synthetic`), written once per session. Read it, never write to it."""
    written: dict[tuple[str, int, int], Path] = {}

    def make(maker: Callable[[int, int], ShowerSet], n: int, seed: int) -> Path:
        key = (maker.__name__, n, seed)
        if key not in written:
            folder = tmp_path_factory.mktemp("showers")
            written[key] = write_showers(folder / f"{key[0]}-{n}-{seed}.h5", maker(n, seed))
        return written[key]

    return make


@pytest.fixture(scope="session")
def wgan_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ``wgan-gp`` artifact on ``atlas-em-barrel``: default hyper-parameters,
    photons of 1-100 GeV in 8 configurations, weights jittered by 0.05 (seed 0) so that no
    output is degenerate. Shared by the session: use ``wgan_model_copy`` to edit it."""
    import torch

    from caloforge.geometry import get_geometry
    from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, save_model

    family = FAMILIES["wgan-gp"]
    hparams = family.Config()
    torch.manual_seed(0)
    generator = family.build_generator(
        get_geometry("atlas-em-barrel"), ConditionEncoding(1e3, 1e5, 8), Preprocessing(), hparams
    )
    with torch.no_grad():
        for p in generator.parameters():
            p.add_(0.05 * torch.randn_like(p))
    folder = tmp_path_factory.mktemp("wgan") / "m"
    return save_model(
        folder, generator, family="wgan-gp", hparams=hparams, particle="photon", seed=0
    )


@pytest.fixture
def wgan_model_copy(wgan_model: Path, tmp_path: Path) -> Path:
    """A copy of ``wgan_model`` in the test's own folder, free to edit or break."""
    return Path(shutil.copytree(wgan_model, tmp_path / "m"))


Cli = Callable[..., "Result"]


@pytest.fixture(scope="session")
def cli() -> Cli:
    """``cli(args, env=None)``: run ``caloforge args...`` in this process (typer's CliRunner)
    and return its ``Result`` (``exit_code``, ``output``, ``stdout``)."""
    from typer.testing import CliRunner

    from caloforge.cli import app

    runner = CliRunner()

    def invoke(args: Sequence[str], env: Mapping[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke
