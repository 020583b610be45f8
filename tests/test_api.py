"""The flat API: ``caloforge.simulate / train / generate / evaluate / export`` and their typed
results; ShowerSet's repr; artifacts written with the usual permissions."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import caloforge as cf
from caloforge.results import Evaluation, Exported, Generated, TrainedModel


def test_the_stages_are_top_level_and_import_is_light() -> None:
    code = (
        "import sys, caloforge as cf; names = ('simulate', 'train', 'generate', 'evaluate', "
        "'export'); assert all(n in dir(cf) for n in names), dir(cf); "
        "heavy = [m for m in ('numpy', 'torch', 'h5py') if m in sys.modules]; "
        "assert not heavy, heavy; assert callable(cf.export)"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        env=os.environ | {"PYTHONPATH": str(Path(cf.__file__).parents[1])},
    )
    import caloforge.export.onnx  # noqa: F401  (binds the subpackage to cf.export)

    assert callable(cf.export)
    assert cf.export is sys.modules["caloforge.export"]


def test_showerset_repr_is_one_line_without_arrays() -> None:
    geo = cf.get_geometry("atlas-em-barrel")
    energies = np.full(5000, 16_000.0)
    energies[0] = 65_000.0
    showers = cf.ShowerSet(
        energies,
        np.zeros((5000, geo.n_cells), np.float32),
        geo,
        conditions={"config": np.zeros(5000, np.int64)},
    )
    text = repr(showers)
    assert text == (
        "ShowerSet(5000 photon showers, geometry 'atlas-em-barrel' (266 cells), "
        "E_inc 16-65 GeV, conditions: config)"
    )
    assert repr(showers[:1]).startswith("ShowerSet(1 photon shower, ")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.slow  # > 10 s on 2 cores (a whole evaluate / simulate-train-evaluate run)
def test_flat_api_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0o022)
    try:
        train = cf.simulate(
            "atlas-em-barrel", energies="8GeV,16GeV", n=180, seed=1, engine="gflash", out="t.h5"
        )
        assert len(train) == 180  # n in total, 90 per energy
        assert sorted(np.unique(train.incident_energy)) == [8000.0, 16000.0]
        cf.simulate("atlas-em-barrel", energies=[8000.0, "16GeV"], n=40, seed=2,
                    engine="gflash", out="r.h5")  # fmt: skip
        model = cf.train("t.h5", "vae", out_dir="m", steps=4)
        assert isinstance(model, TrainedModel)
        assert model.runs[0].steps == 4
        assert "TrainedModel(vae in " in repr(model)
        json.dumps(model.to_dict())
        for weights in [*Path("m").rglob("*.safetensors")]:
            assert _mode(weights) == 0o644, weights
        gen = cf.generate(model, "g.h5", like="r.h5", seed=3)
        assert isinstance(gen, Generated)
        assert gen.n_showers == 40
        ev = cf.evaluate("r.h5", "g.h5", labels=["vae"], out_dir="rep", model=model,
                         classifier=False, n_bootstrap=2, max_histograms=1)  # fmt: skip
        assert isinstance(ev, Evaluation)
        scores = ev.candidates["vae"]
        assert scores.auc_low_level is None
        assert scores.response.e_inc_gev == pytest.approx((8.0, 16.0))
        assert ev.to_dict()["candidates"]["vae"]["flagged"] == list(scores.flagged)
        assert repr(ev).startswith("Evaluation(reference 'r.h5', 40 showers\n  vae: FPD ")
        assert 'alt="training curve' in (tmp_path / "rep" / "report.html").read_text()
        exported = cf.export(model, "m.onnx")
        assert isinstance(exported, Exported)
        assert exported.relative_diff < 1e-3
        assert _mode(tmp_path / "m.onnx") == 0o644
        with pytest.raises(ValueError, match="unknown export format 'tflite'"):
            cf.export(model, "m.tflite", format="tflite")
        with pytest.raises(ValueError, match="give energies"):
            cf.simulate("atlas-em-barrel", n=1)
    finally:
        os.umask(old)
