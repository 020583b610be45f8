"""Energies with units: the one place where text becomes MeV."""

from __future__ import annotations

import pytest

from caloforge.units import check_energies_within, format_energy, parse_energies, parse_energy


@pytest.mark.parametrize(
    ("text", "mev"),
    [
        ("50GeV", 50_000.0),
        ("500MeV", 500.0),
        ("500 MeV", 500.0),
        ("1.5TeV", 1.5e6),
        ("250keV", 0.25),
        ("2e3MeV", 2000.0),
        (" 16gev ", 16_000.0),
        (".5GeV", 500.0),
    ],
)
def test_parse_energy(text: str, mev: float) -> None:
    assert parse_energy(text) == pytest.approx(mev, rel=1e-15)


def test_bare_number_is_an_error_naming_units() -> None:
    with pytest.raises(ValueError, match=r"no unit.*50GeV.*eV, keV, MeV, GeV, TeV"):
        parse_energy("50")


@pytest.mark.parametrize("text", ["50 furlongs", "GeV", "", "-5GeV", "0MeV", "5 Ge V"])
def test_bad_energies(text: str) -> None:
    with pytest.raises(ValueError, match="energy"):
        parse_energy(text)


def test_parse_energies() -> None:
    assert parse_energies("16GeV,32GeV, 500MeV") == [16_000.0, 32_000.0, 500.0]
    with pytest.raises(ValueError, match="no unit"):
        parse_energies("16GeV,32")
    with pytest.raises(ValueError, match="no energies"):
        parse_energies(" , ")


@pytest.mark.parametrize(
    ("mev", "text"),
    [
        (1e7, "10 TeV"),
        (1e306, "1e+300 TeV"),
        (999.0, "999 MeV"),
        (0.25, "250 keV"),
        (5e-7, "0.5 eV"),
    ],
)
def test_format_energy(mev: float, text: str) -> None:
    assert format_energy(mev) == text
    if "e+" not in text:
        assert parse_energy(text.replace(" ", "")) == pytest.approx(mev)


def test_check_energies_within_names_value_and_range() -> None:
    check_energies_within([1.0, 1e6], 1.0, 1e6, what="x")
    with pytest.raises(
        ValueError, match=r"^energy 2 TeV is outside the range of the y: 1 MeV to 1 TeV$"
    ):
        check_energies_within([1.0, 2e6], 1.0, 1e6, what="the y")
    with pytest.raises(ValueError, match="nan MeV"):
        check_energies_within([float("nan")], 1.0, 1e6, what="z")
