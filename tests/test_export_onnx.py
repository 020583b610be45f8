"""ONNX export: parity with PyTorch for every family, metadata, plain-onnxruntime use, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from caloforge.export import export_onnx, read_metadata
from caloforge.generation import OnnxBackend, sample
from caloforge.geometry import get_geometry
from caloforge.models import FAMILIES, ConditionEncoding, Preprocessing, load_model, save_model


def _artifact(
    tmp_path: Path,
    family: str,
    geometry: str = "atlas-em-barrel",
    preprocessing: Preprocessing | None = None,
) -> Path:
    g = get_geometry(geometry)
    fam = FAMILIES[family]
    hp = fam.Config()
    enc = ConditionEncoding(1e3, 1e5, g.alignment_configs)
    torch.manual_seed(0)
    gen = fam.build_generator(g, enc, preprocessing or Preprocessing(), hp)
    # untrained weights give tiny outputs; perturb so that every cell carries energy
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return save_model(tmp_path / family, gen, family=family, hparams=hp, particle="photon", seed=0)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_export_parity_for_every_family(tmp_path: Path, family: str) -> None:
    model_dir = _artifact(tmp_path, family)
    result = export_onnx(model_dir, tmp_path / "m.onnx")
    assert result.n_checked == 256
    assert result.relative_diff <= 1e-5
    assert result.scale_mev > 0
    # the float64 copy of every generator runs, and float32 PyTorch is close to it
    own = json.loads((tmp_path / "m.onnx.json").read_text())["parity"]["torch_float32_error_mev"]
    assert own is not None
    assert own <= 1e-4 * result.scale_mev
    # same noise and conditions through both back-ends, at a batch size the export never saw
    art = load_model(model_dir)
    ort_gen = OnnxBackend(tmp_path / "m.onnx", threads=1)
    rng = np.random.default_rng(3)
    energy = rng.uniform(1e3, 1e5, 37)
    config = rng.integers(0, 8, 37)
    noise = art.generator.make_noise(37, torch.Generator().manual_seed(1))
    ref = art.generator.sample(energy, config, noise=noise).numpy()
    out = sample(ort_gen, energy, config, noise.numpy())
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    # the numpy encoding of the conditions equals the torch one
    assert np.array_equal(
        ort_gen.encode_conditions(energy, config),
        art.generator.encode_conditions(energy, config).numpy(),
    )


@pytest.mark.parametrize("family", ["gan-mbd", "bib-ae"])
def test_export_parity_with_log_preprocessing(tmp_path: Path, family: str) -> None:
    """The ``log`` preprocessing (the granular benchmarks' setting) inverts with expm1, and the
    bib-ae post-processor takes log1p: neither has an ONNX symbolic of its own (the export of a
    trained ild-ecal gan-mbd failed on it)."""
    log = Preprocessing(kind="log", alpha=1e-6)
    model_dir = _artifact(tmp_path, family, preprocessing=log)
    result = export_onnx(model_dir, tmp_path / "m.onnx")
    assert result.relative_diff <= 1e-5
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert {"Exp", "Log"} <= ops


def test_metadata_in_file_and_sidecar(tmp_path: Path) -> None:
    model_dir = _artifact(tmp_path, "wgan-gp")
    res = export_onnx(model_dir, tmp_path / "m.onnx")
    meta = read_metadata(res.path)
    side = json.loads(res.sidecar.read_text())
    assert meta["geometry_name"] == side["geometry_name"] == "atlas-em-barrel"
    assert meta["output"]["shape"] == ["batch", 266]
    assert "MeV" in meta["output"]["unit"]
    assert "phi fastest" in meta["output"]["flattening_order"]
    assert meta["inputs"]["conditions"]["n_configs"] == 8
    assert side["parity"]["checked"] is True
    model = onnx.load(str(res.path))
    names = [i.name for i in model.graph.input]
    assert names == ["noise", "conditions"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike"}


PLAIN_SCRIPT = """
import json, sys
import numpy as np
import onnxruntime as ort
path, noise_path = sys.argv[1], sys.argv[2]
sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
props = sess.get_modelmeta().custom_metadata_map
cond = json.loads(props["inputs"])["conditions"]
data = np.load(noise_path)
e, cfg, noise = data["energy"], data["config"], data["noise"]
c0 = ((np.log(e) - cond["centre"]) / cond["half_width"]).astype(np.float32)[:, None]
onehot = np.eye(cond["n_configs"], dtype=np.float32)[cfg]
cells = sess.run(["cells"], {"noise": noise, "conditions": np.hstack([c0, onehot])})[0]
np.save(sys.argv[3], cells)
"""


def test_plain_onnxruntime_script_gives_the_same_showers(tmp_path: Path) -> None:
    """A C++-like user: only onnxruntime and the metadata, no caloforge import."""
    model_dir = _artifact(tmp_path, "wgan-gp")
    export_onnx(model_dir, tmp_path / "m.onnx")
    art = load_model(model_dir)
    rng = np.random.default_rng(5)
    energy, config = rng.uniform(2e3, 9e4, 20), rng.integers(0, 8, 20)
    noise = art.generator.make_noise(20, torch.Generator().manual_seed(7))
    np.savez(tmp_path / "in.npz", energy=energy, config=config, noise=noise.numpy())
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_SCRIPT)
    subprocess.run(
        [
            sys.executable,
            "-I",
            str(script),
            str(tmp_path / "m.onnx"),
            str(tmp_path / "in.npz"),
            str(tmp_path / "out.npy"),
        ],
        check=True,
    )
    plain = np.load(tmp_path / "out.npy")
    ref = art.generator.sample(energy, config, noise=noise).numpy()
    assert np.abs(plain - ref).max() <= 1e-5 * np.abs(ref).max()


def test_foreign_onnx_file_is_refused(tmp_path: Path) -> None:
    # a valid ONNX model made elsewhere (here by onnx.helper): y = relu(x), no metadata
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(ValueError, match="no caloforge metadata"):
        OnnxBackend(tmp_path / "other.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ValueError, match="not a readable ONNX file"):
        read_metadata(tmp_path / "junk.onnx")


def test_non_exportable_family_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = _artifact(tmp_path, "vae")
    cls = type(load_model(model_dir).generator)
    monkeypatch.setattr(cls, "exportable", False)
    with pytest.raises(ValueError, match="cannot be exported"):
        export_onnx(model_dir, tmp_path / "v.onnx")
    assert not (tmp_path / "v.onnx").exists()


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a model folder"):
        export_onnx(tmp_path / "nope", tmp_path / "x.onnx")


def test_cli_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from caloforge.cli import app

    model_dir = _artifact(tmp_path, "gan-ecritic")
    runner = CliRunner()
    res = runner.invoke(
        app, ["export", "--model", str(model_dir), "--out", str(tmp_path / "g.onnx")]
    )
    assert res.exit_code == 0, res.output
    assert "parity on 256 showers" in res.output
    assert (tmp_path / "g.onnx.json").is_file()
    bad = runner.invoke(
        app,
        [
            "export",
            "--model",
            str(model_dir),
            "--format",
            "tflite",
            "--out",
            str(tmp_path / "g.tfl"),
        ],
    )
    assert bad.exit_code == 2
    assert "unknown export format" in bad.output


def test_require_parity_refuses_beyond_the_tolerance(tmp_path: Path) -> None:
    """The tolerance is 1e-5 of the largest cell or, where larger, twice PyTorch's own float32
    error (against float64): a runtime as close to PyTorch as that is as exact as PyTorch."""
    from caloforge.export.onnx import PARITY_RTOL, ParityCheck, require_parity

    out = tmp_path / "m.onnx"
    require_parity(out, "ONNX Runtime", ParityCheck(0.9 * PARITY_RTOL * 100.0, 100.0))
    with pytest.raises(ValueError, match=r"m\.onnx: ONNX Runtime differs from PyTorch"):
        require_parity(out, "ONNX Runtime", ParityCheck(1.1 * PARITY_RTOL * 100.0, 100.0))
    # the calochallenge-1 flow: 0.28 MeV on 2.77e4 MeV showers, float32 PyTorch 3.5 MeV off
    assert ParityCheck(0.28, 2.77e4, 3.5).tolerance_mev == 7.0
    require_parity(out, "ONNX Runtime", ParityCheck(0.28, 2.77e4, 3.5))
    with pytest.raises(ValueError, match=r"float32 error 0\.1 MeV"):
        require_parity(out, "ONNX Runtime", ParityCheck(0.28, 2.77e4, 0.1))
    # a well-conditioned generator: its own float32 error does not loosen the tolerance
    assert ParityCheck(0.0, 100.0, 1e-6).tolerance_mev == PARITY_RTOL * 100.0


def test_float32_error_is_measured_against_a_float64_copy(tmp_path: Path) -> None:
    """compare() measures PyTorch's own rounding error from a float64 copy, leaving the
    artifact's generator in float32."""
    from caloforge.export.onnx import check_inputs, compare

    art = load_model(_artifact(tmp_path, "flow"))
    noise, cond = check_inputs(art, 64, seed=1)
    with torch.no_grad():
        ref = art.generator(noise, cond).numpy()
    exact = compare(art, noise, cond, ref)
    assert exact.diff_mev == 0.0
    assert exact.float32_error_mev is not None
    assert 0.0 < exact.float32_error_mev <= 1e-4 * exact.scale_mev
    assert next(art.generator.parameters()).dtype == torch.float32
    shifted = compare(art, noise, cond, ref + 0.5)
    assert shifted.diff_mev == pytest.approx(0.5, rel=1e-3)


def test_export_parity_of_a_fitted_bibae_spectrum_map(tmp_path: Path) -> None:
    """The BIB-AE's fitted spectrum map (a binary search over knots: gathers and comparisons)
    is in the exported graph, and ONNX Runtime follows PyTorch through it."""
    g = get_geometry("atlas-em-barrel")
    fam = FAMILIES["bib-ae"]
    hp = fam.Config()
    torch.manual_seed(0)
    gen = fam.build_generator(
        g, ConditionEncoding(1e3, 1e5, g.alignment_configs), Preprocessing("log", 1e-6), hp
    )
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(0.05 * torch.randn_like(p))
        noise = gen.make_noise(64, torch.Generator().manual_seed(2))
        cond = gen.encode_conditions(np.geomspace(1e3, 1e5, 64), 0)
        u = gen.post_processor.mip_units(gen.post_network(noise, cond), cond)
        gen.spectrum_map.fit(u, 1.5 * u**1.2, cond[:, 0])
        mapped = gen.transformed(noise, cond)
    assert not torch.allclose(mapped, gen.post_network(noise, cond))
    model_dir = save_model(
        tmp_path / "bib", gen, family="bib-ae", hparams=hp, particle="photon", seed=0
    )
    result = export_onnx(model_dir, tmp_path / "m.onnx")
    assert result.relative_diff <= 1e-5
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert "GatherElements" in ops
