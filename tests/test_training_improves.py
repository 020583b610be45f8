"""Training improves the validation score, for every registered family.

A short run (fixed seed, the family's default hyper-parameters but for ``MODEL_CHANGES``,
learning rate 2e-3) on the synthetic ``atlas-em-barrel`` photons of ``tests/synthetic.py``,
scored on the same held-out showers the same way as two baselines:

- the untrained model (the trainer logs its validation metrics at step 0);
- the same run with the learning rate at 1e-12: everything a family fits on the data without
  gradients (the GANs' critic standardisation, energy scale and zero-suppression thresholds)
  happens, but no network learns -- so the comparison fails if gradient training is broken.

``score`` = S(E_tot/E_inc) + mean S(layer fraction), in [0, 2], lower is better. In these runs
the trained score was below the frozen one by 0.43 (wgan-gp), 0.24 (gan-ecritic) and 1.25
(vae); the margin asked for is 0.15.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from caloforge.models.registry import family_names, get_family
from caloforge.training import RunConfig, TrainConfig, train
from synthetic import atlas_showers

STEPS = 60
MARGIN = 0.15
#: families whose fitted preprocessing alone already scores within MARGIN of any 60-step run, so
#: the frozen comparison cannot tell them apart here; each has its own improvement test
OWN_IMPROVEMENT_TEST = {
    # its frozen run scores 0.158 (the preprocessing makes Gaussian draws land on the data's
    # energies); test_models_flow_matching::test_short_training_beats_the_fitted_untrained_model
    # asks 120 steps for a 30% better score than that fitted, untrained model
    "flow-matching": "test_models_flow_matching.py::test_short_training_beats_the_fitted_untrained_model",
    # the same preprocessing, and its couplings start near the identity, so the untrained flow
    # draws the same Gaussians in the standardised spaces (score 0.133 in that test);
    # test_models_flow::test_short_training_beats_the_fitted_untrained_model asks 200 steps
    # for a 30% better score
    "flow": "test_models_flow.py::test_short_training_beats_the_fitted_untrained_model",
}


#: hyper-parameters changed from the family's defaults here, and why
MODEL_CHANGES: dict[str, dict[str, object]] = {
    # its generator starts from the data's mean shower (fitted, no gradients): the frozen run
    # draws that mean shower, which scores 0.485 on these one-dimensional marginals, while 60
    # steps at 2e-3 score 0.763 (the first adversarial steps add fluctuations and move the
    # means); the exact start is tested in test_models_gan3d.py, and gradient training of the
    # convolutional generator is checked here from the uniform start. Its default layer-energy
    # flow starts near the identity in standardised variables and so already draws these
    # marginals closely (frozen 0.300, 60 steps 0.256); it is tested in test_models_gan3d.py
    # (it learns the widths and the depth fluctuation), and the network is checked here with
    # the E_tot/E_inc model, whose scores move with the network's layer split
    "gan3d": {"mean_shower": False, "layer_flow": False},
    # its spectrum map is fitted, not trained (refitted before every validation): it maps even
    # the frozen decoder's cells onto the data's spectrum per depth group, which scores 0.83 on
    # these marginals against 1.45 after 60 trained steps; the map is tested exactly in
    # test_models_spectrum_map.py, and the trained networks are checked here without it
    "bib-ae": {"spectrum_map": False},
}


def _scores(name: str, lr: float, out: Path) -> dict[int, float]:
    """The logged validation score by step of a ``STEPS``-step run at learning rate ``lr``."""
    config = get_family(name).Config
    run = RunConfig(
        family=name,
        model=dataclasses.replace(config(), **MODEL_CHANGES.get(name, {})),
        train=TrainConfig(
            steps=STEPS,
            batch_size=64,
            lr=lr,
            val_fraction=0.3,
            validate_every=STEPS,
            checkpoint_every=STEPS,
            threads=1,
            progress=False,
        ),
    )
    (result,) = train(atlas_showers(1000, 0), config=run, out_dir=out)
    with (out / "log.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["name"] == "val_score"]
    scores = {int(r["step"]): float(r["value"]) for r in rows}
    assert sorted(scores) == [0, STEPS]
    assert scores[STEPS] == pytest.approx(result.metrics["final"]["score"])
    return scores


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.skip(reason=f"covered by {OWN_IMPROVEMENT_TEST[n]}"))
        if n in OWN_IMPROVEMENT_TEST
        else n
        for n in family_names()
    ],
)
def test_training_improves_the_validation_score(name: str, tmp_path: Path) -> None:
    trained = _scores(name, 2e-3, tmp_path / "trained")
    frozen = _scores(name, 1e-12, tmp_path / "frozen")
    assert trained[0] == frozen[0]  # the same untrained model, scored the same way
    assert trained[STEPS] < trained[0] - MARGIN, trained
    assert trained[STEPS] < frozen[STEPS] - MARGIN, (trained, frozen)
