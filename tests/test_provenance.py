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
