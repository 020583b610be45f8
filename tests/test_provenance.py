import os

from caloforge.provenance import machine_description, versions


def test_machine_description_names_cpu_and_cores() -> None:
    d = machine_description()
    assert d["cores"] == os.cpu_count()
    assert isinstance(d["cpu"], str)
    assert d["cpu"]
    assert d["time_utc"].endswith("+00:00")


def test_versions_include_python_and_requested_packages() -> None:
    v = versions("numpy", "no-such-package-xyz")
    assert v["python"].startswith("3.")
    assert "numpy" in v
    assert "no-such-package-xyz" not in v


def test_caloforge_version_has_one_source() -> None:
    import tomllib
    from importlib import metadata
    from pathlib import Path

    import caloforge
    from caloforge._version import __version__

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["tool"]["hatch"]["version"]["path"] == "src/caloforge/_version.py"
    assert caloforge.__version__ == __version__
    assert metadata.version("caloforge") == __version__
    assert versions()["caloforge"] == __version__
