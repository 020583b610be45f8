from caloforge.provenance import machine_description, versions


def test_machine_description_names_cpu_and_cores() -> None:
    d = machine_description()
    assert d["cores"] >= 1
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
    from pathlib import Path

    from caloforge._version import __version__

    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert __version__ == declared
    assert versions()["caloforge"] == declared


def test_utc_timestamp_is_iso_to_the_second() -> None:
    import datetime as dt

    from caloforge.provenance import utc_timestamp

    stamp = utc_timestamp()
    parsed = dt.datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == dt.timedelta(0)
    assert parsed.microsecond == 0
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 5
